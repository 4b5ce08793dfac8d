package gen

import (
	"os"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/iotctl/iotctl/pkg/profile"
)

// TestGenRunProvisioning: the claim policy allows exactly the fleet
// provisioning API's topics of one template (golden), and iotctl-* to
// connect unless --client-id says otherwise.
func TestGenRunProvisioning(t *testing.T) {
	want, err := os.ReadFile("testdata/provisioning.json")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Account: "123456789012", provisioningOptions: provisioningOptions{Provisioning: true, Template: "FleetTemplate"}}
	out, stderr, err := run(t, opts, profile.Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(stderr, "client/iotctl-*: the client IDs iotctl provision generates") {
		t.Errorf("stderr = %q", stderr)
	}
	doc, err := policy.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	for _, c := range []struct {
		action, resource string
		allow            bool
	}{
		{"iot:Connect", "client/iotctl-1a2b", true},
		{"iot:Connect", "client/dev1", false},
		{"iot:Publish", "topic/$aws/certificates/create/json", true},
		{"iot:Publish", "topic/$aws/certificates/create-from-csr/json", true},
		{"iot:Publish", "topic/$aws/provisioning-templates/FleetTemplate/provision/json", true},
		{"iot:Publish", "topic/$aws/provisioning-templates/Other/provision/json", false},
		{"iot:Publish", "topic/$aws/certificates/create/cbor", false},
		{"iot:Subscribe", "topicfilter/$aws/certificates/create/json/accepted", true},
		{"iot:Subscribe", "topicfilter/$aws/provisioning-templates/FleetTemplate/provision/json/rejected", true},
		{"iot:Subscribe", "topicfilter/$aws/certificates/create/json/+", false},
		{"iot:Receive", "topic/$aws/certificates/create-from-csr/json/accepted", true},
		{"iot:Receive", "topic/$aws/provisioning-templates/FleetTemplate/provision/json/accepted", true},
		{"iot:Receive", "topic/$aws/certificates/create/json", false},
		{"iot:Publish", "topic/$aws/certificates/create/json/accepted", false},
	} {
		got := policy.Evaluate([]*policy.Document{doc}, policy.Request{Action: c.action, Resource: arn + c.resource}).Allowed()
		if got != c.allow {
			t.Errorf("%s on %s: allowed %t, want %t", c.action, c.resource, got, c.allow)
		}
	}

	out, _, err = run(t, Options{Account: "123456789012", provisioningOptions: provisioningOptions{Provisioning: true, Template: "T"}},
		profile.Settings{Region: "us-east-1", ClientID: "claim-*"})
	if err != nil || !strings.Contains(out, `"arn:aws:iot:us-east-1:123456789012:client/claim-*"`) || strings.Contains(out, "iotctl-*") {
		t.Errorf("--client-id claim-*: %v\n%s", err, out)
	}
}

func TestGenRunProvisioningErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts provisioningOptions
		more func(*Options)
		want string
	}{
		{"template alone", provisioningOptions{Template: "T"}, nil, "--template needs --provisioning"},
		{"no template", provisioningOptions{Provisioning: true}, nil, "--provisioning needs --template NAME"},
		{"slash", provisioningOptions{Provisioning: true, Template: "a/b"}, nil, `invalid --template "a/b"`},
		{"wildcard", provisioningOptions{Provisioning: true, Template: "+"}, nil, `invalid --template "+"`},
		{"policy wildcard", provisioningOptions{Provisioning: true, Template: "a*"}, nil, `invalid --template "a*"`},
		{"too long", provisioningOptions{Provisioning: true, Template: strings.Repeat("t", 37)}, nil, "invalid --template"},
		{"thing", provisioningOptions{Provisioning: true, Template: "T"}, func(o *Options) { o.Thing = true }, "--provisioning with --thing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Account: "123456789012", provisioningOptions: tt.opts}
			if tt.more != nil {
				tt.more(&opts)
			}
			out, _, err := run(t, opts, profile.Settings{Region: "us-east-1"})
			if cmdutil.ExitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (exit %d), want exit 2 with %q", err, cmdutil.ExitCode(err), tt.want)
			}
			if out != "" {
				t.Errorf("stdout = %q", out)
			}
		})
	}
}

func TestNewCmdGenProvisioningFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	var got *Options
	cmd := NewCmdGen(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--provisioning", "--template", "FleetTemplate"})
	cmd.SetOut(ios.ErrOut)
	cmd.SetErr(ios.ErrOut)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := (provisioningOptions{Provisioning: true, Template: "FleetTemplate"}); got.provisioningOptions != want {
		t.Errorf("options = %+v, want %+v", got.provisioningOptions, want)
	}
}
