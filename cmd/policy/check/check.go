// Package check is `iotctl policy check`: would these policies allow an
// action on a resource?
package check

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/policy/shared"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// DefaultAccount is the account of short resources when neither --account
// nor the policies' ARNs give one.
const DefaultAccount = "123456789012"

// Options are policy check's inputs; client ID, region and output format
// come from Settings.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)

	Policies        []string
	Action          string
	Resource        string
	Account         string
	ThingName       string
	ThingAttributes []string
}

// NewCmdCheck returns `iotctl policy check`; runF replaces checkRun in tests.
func NewCmdCheck(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "check --policy FILE... --action ACTION --resource RESOURCE [flags]",
		Short: "Check whether AWS IoT policies allow an action on a resource",
		Long: `Evaluate AWS IoT policies as IoT Core does, offline, and print ALLOW or DENY
with the statement that decided. Several --policy files are evaluated
together, like the policies attached to one certificate: an explicit Deny in
any of them wins over every Allow.

The resource is short (topic/a/b, topicfilter/a/+/b, client/ID, thing/NAME)
or a full arn:aws:iot:… ARN. A short resource takes the region from
--region (else the endpoint's) and the account from --account; without
them, from the policies' ARNs when they all name the same one, else the
region from AWS_REGION, AWS_DEFAULT_REGION or the AWS profile, else
us-east-1 and 123456789012.

iot:Subscribe is checked against topicfilter/<filter as subscribed>: + and #
are plain characters in policies, so topicfilter/a/+ is allowed by
topicfilter/a/+ or topicfilter/a/*, not by topicfilter/a/b.

Policy variables come from --client-id (for iot:Connect, the client ID of
the resource when --client-id is not given), --thing-name and
--thing-attribute. Condition, NotAction, NotResource and Principal are not
supported: such a policy is refused.

Exit status: 0 when allowed, 4 when denied, 2 for a bad flag or policy.`,
		Example: `  iotctl policy check --policy policy.json --action iot:Publish --resource topic/test/topic
  iotctl policy check -p a.json -p b.json -a iot:Subscribe -r 'topicfilter/dt/+/temp' -o json
  iotctl policy check -p thing.json -a iot:Connect -r client/sensor-7 \
    --thing-name sensor-7 --thing-attribute site=plant7`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Policies = append(opts.Policies, args...)
			if runF != nil {
				return runF(opts)
			}
			return checkRun(opts)
		},
	}
	fl := cmd.Flags()
	cmdutil.StringArrayVarP(fl, &opts.Policies, "policy", "p", "policy document file, - for stdin (repeatable; also as arguments)")
	fl.StringVarP(&opts.Action, "action", "a", "", "action, like iot:Connect, iot:Publish, iot:Receive, iot:RetainPublish, iot:Subscribe")
	fl.StringVarP(&opts.Resource, "resource", "r", "", "resource: topic/T, topicfilter/F, client/ID, thing/NAME or a full ARN")
	fl.StringVar(&opts.Account, "account", "", "AWS account ID of a short --resource (default: the policies', else "+DefaultAccount+")")
	fl.StringVar(&opts.ThingName, "thing-name", "", "thing attached to the connection, for ${iot:Connection.Thing.ThingName}")
	cmdutil.StringArrayVar(fl, &opts.ThingAttributes, "thing-attribute", "thing attribute name=value, for ${iot:Connection.Thing.Attributes[name]} (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("action", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, a := range policy.Actions {
			names = append(names, a.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	opts.Settings = f.LocalSettings(cmd, "client-id", "region", "endpoint")
	fl = cmd.Flags()
	fl.Lookup("client-id").Usage = "client ID of the connection, for ${iot:ClientId} [IOTCTL_CLIENT_ID]"
	fl.Lookup("region").Usage = "AWS region of the ARNs (default: the --endpoint's, AWS_REGION, the AWS profile's, else the policies' or us-east-1) [IOTCTL_REGION]"
	fl.Lookup("endpoint").Usage = "AWS IoT endpoint whose region the ARNs take without --region [IOTCTL_ENDPOINT]"
	return cmd
}

func checkRun(opts *Options) error {
	s, err := opts.Settings()
	if err != nil {
		return err
	}
	req, err := opts.request(s)
	if err != nil {
		return err
	}
	docs, err := opts.read()
	if err != nil {
		return err
	}
	// The policies' region comes before the environment's: it is what the
	// check is about; --region and the endpoint's come first.
	resolved, region, account := shared.Region(s), "", opts.Account
	if shared.Explicit(resolved, s) || resolved.Source == "endpoint" {
		region = resolved.Name
	}
	if region == "" || account == "" {
		r, a := fromPolicies(docs)
		if region == "" {
			region = or(r, or(resolved.Name, shared.DefaultRegion))
		}
		if account == "" {
			account = or(a, DefaultAccount)
		}
	}
	arn := policy.ExpandResource(opts.Resource, region, account)
	res, ok := policy.ParseARN(arn)
	if !ok {
		return errs.Usagef("policy check: invalid --resource %q: want topic/NAME, topicfilter/FILTER, client/ID, thing/NAME or an arn:aws:iot:… ARN", opts.Resource)
	}
	info, _ := policy.LookupAction(req.Action)
	if info.Kind != "" && res.Kind != info.Kind {
		return errs.Usagef("policy check: %s is checked against %s/… resources, not %s/…: give --resource %s/%s", info.Name, info.Kind, res.Kind, info.Kind, res.Name)
	}
	req.Resource = arn
	if info.Name == "iot:Connect" && req.Context.ClientID == "" {
		req.Context.ClientID = res.Name
	}
	for _, d := range docs {
		if d.doc.Version != policy.Version && hasVariables(d.doc) {
			fmt.Fprintf(opts.IO.ErrOut, "iotctl: note: %s: Version is not %s, so its ${…} variables are plain text\n", d.name, policy.Version)
		}
	}

	list := make([]*policy.Document, len(docs))
	for i, d := range docs {
		list[i] = d.doc
	}
	dec := policy.Evaluate(list, req)
	err = cmdutil.Output{Format: s.Output}.Print(opts.IO.Out, jsonDecision(docs, req, dec), func(w io.Writer) error {
		return writeText(w, docs, req, dec)
	})
	if err != nil {
		return err
	}
	if !dec.Allowed() {
		return errs.Refusedf("policy denies %s on %s", req.Action, arn)
	}
	return nil
}

// request checks the flags and builds the request, resource still short.
func (opts *Options) request(s *profile.Settings) (policy.Request, error) {
	var req policy.Request
	if len(opts.Policies) == 0 {
		return req, errs.Usagef("policy check: no policy: give --policy FILE (repeatable)")
	}
	if opts.Action == "" {
		return req, errs.Usagef("policy check: no action: give --action, like iot:Publish")
	}
	info, ok := policy.LookupAction(opts.Action)
	if !ok {
		var names []string
		for _, a := range policy.Actions {
			names = append(names, a.Name)
		}
		return req, errs.Usagef("policy check: unknown action %q: want one of %s", opts.Action, strings.Join(names, ", "))
	}
	if opts.Resource == "" {
		return req, errs.Usagef("policy check: no resource: give --resource, like topic/a/b or topicfilter/a/+")
	}
	if opts.Account != "" && !shared.ValidAccount(opts.Account) {
		return req, errs.Usagef("policy check: invalid --account %q: want the 12-digit AWS account ID", opts.Account)
	}
	attrs := map[string]string{}
	for _, kv := range opts.ThingAttributes {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return req, errs.Usagef("policy check: invalid --thing-attribute %q: want name=value", kv)
		}
		attrs[k] = v
	}
	if len(attrs) > 0 && opts.ThingName == "" {
		return req, errs.Usagef("policy check: --thing-attribute needs --thing-name: attributes belong to the thing attached to the connection")
	}
	req.Action = info.Name
	req.Context = policy.Context{ClientID: s.ClientID, ThingName: opts.ThingName, ThingAttributes: attrs}
	return req, nil
}

type namedDoc struct {
	name string
	doc  *policy.Document
}

func (opts *Options) read() ([]namedDoc, error) {
	if i := slices.Index(opts.Policies, "-"); i >= 0 && slices.Contains(opts.Policies[i+1:], "-") {
		return nil, errs.Usagef("policy check: --policy - given twice: stdin holds one policy")
	}
	var docs []namedDoc
	for _, name := range opts.Policies {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(opts.IO.In)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, errs.Usagef("policy check: read %s: %v", name, err)
		}
		doc, err := policy.Parse(data)
		if err != nil {
			return nil, errs.Usagef("policy check: %s: %v", name, err)
		}
		if n := policy.Size(data); n > policy.MaxSize {
			fmt.Fprintf(opts.IO.ErrOut, "iotctl: note: %s is %d characters without whitespace: AWS IoT refuses policies over %d\n", name, n, policy.MaxSize)
		}
		docs = append(docs, namedDoc{name: name, doc: doc})
	}
	return docs, nil
}

// fromPolicies is the region and account the policies' ARNs agree on, if
// they name exactly one of each.
func fromPolicies(docs []namedDoc) (region, account string) {
	regions, accounts := map[string]bool{}, map[string]bool{}
	for _, d := range docs {
		for _, s := range d.doc.Statement {
			for _, r := range s.Resource {
				a, ok := policy.ParseARN(r)
				if !ok {
					continue
				}
				if !strings.ContainsAny(a.Region, "*?$") {
					regions[a.Region] = true
				}
				if !strings.ContainsAny(a.Account, "*?$") {
					accounts[a.Account] = true
				}
			}
		}
	}
	return only(regions), only(accounts)
}

func only(set map[string]bool) string {
	if len(set) != 1 {
		return ""
	}
	for k := range set {
		return k
	}
	return ""
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hasVariables(d *policy.Document) bool {
	for _, s := range d.Statement {
		for _, r := range s.Resource {
			if strings.Contains(r, "${") {
				return true
			}
		}
	}
	return false
}

func describe(docs []namedDoc, ref *policy.StatementRef) string {
	where := fmt.Sprintf("%s Statement[%d]", docs[ref.Doc].name, ref.Index)
	if ref.Sid != "" {
		where += fmt.Sprintf(" (Sid %q)", ref.Sid)
	}
	return where
}

func writeText(w io.Writer, docs []namedDoc, req policy.Request, dec policy.Decision) error {
	if dec.Statement == nil {
		_, err := fmt.Fprintf(w, "DENY: no statement allows %s on %s\n", req.Action, req.Resource)
		return err
	}
	word := "ALLOW"
	if !dec.Allowed() {
		word = "DENY"
	}
	_, err := fmt.Fprintf(w, "%s: %s on %s\n  by %s: %s %s on %s\n", word, req.Action, req.Resource,
		describe(docs, dec.Statement), dec.Effect, dec.Statement.Action, dec.Statement.Resource)
	return err
}

type jsonStatement struct {
	File     string `json:"file"`
	Index    int    `json:"index"`
	Sid      string `json:"sid"`
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

type jsonResult struct {
	Decision  string         `json:"decision"`
	Effect    policy.Effect  `json:"effect"`
	Action    string         `json:"action"`
	Resource  string         `json:"resource"`
	Statement *jsonStatement `json:"statement"`
	Reason    string         `json:"reason"`
}

// jsonDecision is the decision as -o json prints it.
func jsonDecision(docs []namedDoc, req policy.Request, dec policy.Decision) jsonResult {
	out := jsonResult{Decision: "deny", Effect: dec.Effect, Action: req.Action, Resource: req.Resource, Reason: dec.Reason}
	if dec.Allowed() {
		out.Decision = "allow"
	}
	if ref := dec.Statement; ref != nil {
		out.Statement = &jsonStatement{File: docs[ref.Doc].name, Index: ref.Index, Sid: ref.Sid, Action: ref.Action, Resource: ref.Resource}
	}
	return out
}
