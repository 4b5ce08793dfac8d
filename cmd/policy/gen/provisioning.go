package gen

import (
	"regexp"
	"sync"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/spf13/pflag"
)

// provisioningOptions are --provisioning and --template: the policy of a
// fleet provisioning claim certificate.
type provisioningOptions struct {
	Provisioning bool
	Template     string
}

// provisioningClientID is what the policy allows to connect without
// --client-id: the client IDs iotctl provision generates.
const provisioningClientID = "iotctl-*"

// templateRE is AWS IoT's provisioning template name pattern (1 to 36).
var templateRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9A-Za-z_-]{1,36}$`) })

func addProvisioningFlags(fl *pflag.FlagSet, o *provisioningOptions) {
	fl.BoolVar(&o.Provisioning, "provisioning", false, "a fleet provisioning claim certificate's policy (with --template)")
	fl.StringVar(&o.Template, "template", "", "with --provisioning: the provisioning template the claim may use")
}

// provisioning adds the fleet provisioning MQTT API's topics, exactly:
// publish CreateKeysAndCertificate, CreateCertificateFromCsr and the
// template's RegisterThing (JSON), subscribe to and receive their
// accepted and rejected replies. Without a client ID, it allows iotctl-*.
func (o *Options) provisioning(gen *policy.GenOptions) (notes []string, err error) {
	switch {
	case !o.Provisioning && o.Template != "":
		return nil, errs.Usagef("policy gen: --template needs --provisioning")
	case !o.Provisioning:
		return nil, nil
	case o.Template == "":
		return nil, errs.Usagef("policy gen: --provisioning needs --template NAME: the provisioning template the claim certificate may use")
	case !templateRE().MatchString(o.Template):
		return nil, errs.Usagef("policy gen: invalid --template %q: a template name is 1 to 36 letters, digits, _ and -", o.Template)
	case o.Thing:
		return nil, errs.Usagef("policy gen: --provisioning with --thing: a claim certificate is no thing's: give --client-id, or none for %s", provisioningClientID)
	}
	for _, op := range []string{
		"$aws/certificates/create/json",
		"$aws/certificates/create-from-csr/json",
		"$aws/provisioning-templates/" + o.Template + "/provision/json",
	} {
		gen.Publish = append(gen.Publish, op)
		gen.Subscribe = append(gen.Subscribe, op+"/accepted", op+"/rejected")
	}
	if gen.ClientID == "" {
		gen.ClientID = provisioningClientID
		notes = append(notes, "client/"+provisioningClientID+": the client IDs iotctl provision generates; give --client-id for others")
	}
	return notes, nil
}
