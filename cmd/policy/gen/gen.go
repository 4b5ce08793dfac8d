// Package gen is `iotctl policy gen`: a least-privilege AWS IoT policy.
package gen

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/policy/shared"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// Formats of the output.
const (
	FormatJSON           = "json"
	FormatCloudFormation = "cloudformation"
	FormatTerraform      = "terraform"
)

// Options are policy gen's inputs; region and client ID come from Settings.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)

	Account   string
	Publish   []string
	Subscribe []string
	Receive   []string
	Topics    []string
	Retain    bool
	Thing     bool
	Jobs      bool
	Format    string
	Name      string

	ThingName   string   // --thing NAME
	Shadow      bool     // --shadow (shadow.go)
	ShadowNames []string // --shadow-name

	provisioningOptions
}

// NewCmdGen returns `iotctl policy gen`; runF replaces genRun in tests.
func NewCmdGen(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "gen --client-id ID [--topic T | --publish T | --subscribe F | --receive T]... [flags]",
		Short: "Generate a least-privilege AWS IoT policy",
		Long: `Generate the AWS IoT policy a client needs, and no more:
iot:Connect on client/<client-id>, iot:Publish on topic/<topic>,
iot:Subscribe on topicfilter/<filter, as written>, iot:Receive on
topic/<every topic the filter matches>.

Policies have no + or #: for iot:Receive, + becomes * and a/# becomes
topic/a/* and topic/a (# also matches the parent). A * crosses topic levels,
so the policy can be wider than the filter: a note on stderr says so.
Topics and client IDs are written as given, so * and ? keep their policy
meaning, ${*} and ${?} are the literal characters, and policy variables such
as ${iot:ClientId} work.

The client ID is --client-id (exact, or a prefix with *, like test-*), else
<client-id-prefix>* when a profile or IOTCTL_CLIENT_ID_PREFIX sets a prefix;
--thing connects as client/${iot:Connection.Thing.ThingName} instead.
--shadow allows the thing's Device Shadow (iotctl shadow): publish to
$aws/things/<thing>/shadow/get, update and delete, subscribe to and
receive their replies (get/*, update/*, delete/*); --shadow-name N the
named shadow N instead of the classic one. With a bare --thing the thing
is ${iot:Connection.Thing.ThingName}, so one policy serves every device
whose client ID is its thing name; --thing NAME names one thing (and
connects as client/NAME unless --client-id says otherwise).
The region is --region, else the endpoint's, else AWS_REGION, else
AWS_DEFAULT_REGION, else the AWS profile's region (AWS_PROFILE in
~/.aws/config or AWS_CONFIG_FILE), else us-east-1; a note says where it came
from unless --region gave it.` + jobsHelp + `

Formats:
  json            the policy document; --account (12 digits) is required
  cloudformation  a template with an AWS::IoT::Policy; region, account and
                  partition are the stack's (Fn::Sub), --account not needed
  terraform       an aws_iot_policy resource; region, account and partition
                  come from the aws_region, aws_caller_identity and
                  aws_partition data sources, --account not needed

The policy goes to stdout, notes to stderr. A policy over 2048 characters
(whitespace not counted) is refused, as AWS IoT would.`,
		Example: `  # the seed sample's policy
  iotctl policy gen --topic test/topic --client-id 'test-*' --region us-east-1 --account 123456789012

  # a device that publishes telemetry and listens for commands
  iotctl policy gen --thing --publish 'dt/${iot:Connection.Thing.ThingName}' \
    --subscribe 'cmd/${iot:Connection.Thing.ThingName}/+' --account 123456789012

  # a device's own Device Shadow, for every thing (client ID = thing name)
  iotctl policy gen --shadow --thing --account 123456789012

  # an app that updates sensor-7's named shadow "config"
  iotctl policy gen --shadow --thing sensor-7 --shadow-name config --client-id app-1 --account 123456789012

  # a device running 'iotctl jobs run' with its thing name as client ID
  iotctl policy gen --thing --jobs --account 123456789012

  # a fleet provisioning claim certificate (iotctl provision --template FleetTemplate)
  iotctl policy gen --provisioning --template FleetTemplate --account 123456789012

  # a CloudFormation template
  iotctl policy gen --topic test/topic --client-id 'test-*' --format cloudformation`,
		Args: func(cmd *cobra.Command, args []string) error { return opts.thingArg(args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return genRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Account, "account", "", "AWS account ID, 12 digits (required with --format json)")
	cmdutil.StringArrayVarP(fl, &opts.Topics, "topic", "t", "topic to publish, subscribe and receive on (repeatable)")
	cmdutil.StringArrayVar(fl, &opts.Publish, "publish", "topic to publish to, no wildcards (repeatable)")
	cmdutil.StringArrayVar(fl, &opts.Subscribe, "subscribe", "topic filter to subscribe to, + and # allowed (repeatable)")
	cmdutil.StringArrayVar(fl, &opts.Receive, "receive", "topic, or filter, to receive from without subscribing here (repeatable)")
	fl.BoolVar(&opts.Retain, "retain", false, "also allow retained publishes (iot:RetainPublish)")
	addThingFlags(fl, opts)
	addJobsFlag(fl, opts)
	fl.StringVar(&opts.Format, "format", FormatJSON, "output format: json, cloudformation or terraform")
	fl.StringVar(&opts.Name, "name", "", "policy name for cloudformation (default: generated) and terraform (default: iotctl-policy)")
	addProvisioningFlags(fl, &opts.provisioningOptions)
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{FormatJSON, FormatCloudFormation, FormatTerraform}, cobra.ShellCompDirectiveNoFileComp
	})
	opts.Settings = f.LocalSettings(cmd, "client-id", "client-id-prefix", "region", "endpoint")
	fl = cmd.Flags()
	fl.Lookup("client-id").Usage = "client ID, or a prefix ending in * ('test-*'), the policy allows to connect [IOTCTL_CLIENT_ID]"
	fl.Lookup("client-id-prefix").Usage = "without --client-id: allow client IDs with this prefix [IOTCTL_CLIENT_ID_PREFIX]"
	fl.Lookup("region").Usage = "AWS region of the ARNs (default: the --endpoint's, AWS_REGION, the AWS profile's, else us-east-1) [IOTCTL_REGION]"
	fl.Lookup("endpoint").Usage = "AWS IoT endpoint whose region the ARNs take without --region [IOTCTL_ENDPOINT]"
	return cmd
}

// nameRE is compiled at first use. The length is checked apart: every
// character it allows is one byte, and a {1,128} repetition compiles into
// 128 copies of the class.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]+$`) })

func genRun(opts *Options) error {
	s, err := opts.Settings()
	if err != nil {
		return err
	}
	switch opts.Format {
	case FormatJSON, FormatCloudFormation, FormatTerraform:
	default:
		return errs.Usagef("policy gen: invalid --format %q: want json, cloudformation or terraform", opts.Format)
	}
	if opts.Name != "" && (len(opts.Name) > 128 || !nameRE().MatchString(opts.Name)) {
		return errs.Usagef("policy gen: invalid --name %q: use at most 128 letters, digits and _+=,.@-", opts.Name)
	}
	if opts.Account != "" && !shared.ValidAccount(opts.Account) {
		return errs.Usagef("policy gen: invalid --account %q: want the 12-digit AWS account ID", opts.Account)
	}
	resolved := shared.Region(s)
	region := resolved.Name
	if region != "" && !shared.ValidRegion(region) {
		return errs.Usagef("policy gen: invalid region %q (from %s): want an AWS region like us-east-1", region, resolved.Source)
	}
	var notes []string
	gen := policy.GenOptions{
		ClientID: clientID(s), Thing: opts.Thing,
		Publish: opts.Publish, Subscribe: opts.Subscribe, Receive: opts.Receive,
		Topics: opts.Topics, Retain: opts.Retain,
	}
	more, err := opts.provisioning(&gen)
	if err != nil {
		return err
	}
	notes = append(notes, more...)
	if err := opts.applyThing(&gen, gen.ClientID, &notes); err != nil {
		return err
	}
	addJobs(opts, &gen)
	if opts.Thing && opts.ThingName == "" && s.ClientID != "" {
		notes = append(notes, fmt.Sprintf("client ID %s is not used: --thing connects as the thing name", s.ClientID))
	}
	if !opts.Thing && gen.ClientID == "" {
		return errs.Usagef("policy gen: no client ID: give --client-id (exact, or a prefix with *, like 'test-*') or --thing")
	}

	var out []byte
	switch opts.Format {
	case FormatJSON:
		if opts.Account == "" {
			return errs.Usagef("policy gen: --account is required (12 digits) with --format json: give your AWS account ID, or use --format cloudformation or terraform")
		}
		switch {
		case region == "":
			region = shared.DefaultRegion
			notes = append(notes, "region "+region+" (default: no --region, AWS IoT endpoint, AWS_REGION or AWS profile region): give --region for another")
		case !shared.Explicit(resolved, s):
			notes = append(notes, "region "+region+" (from "+resolved.Source+"): give --region for another")
		}
		gen.Region, gen.Account = region, opts.Account
		doc, more, err := policy.Generate(gen)
		if err != nil {
			return err
		}
		notes = append(notes, more...)
		if out, err = doc.JSON(); err != nil {
			return err
		}
		if err := policy.CheckSize(out); err != nil {
			return err
		}
	default:
		if opts.Account != "" {
			notes = append(notes, "--account is not used with --format "+opts.Format+": the deploying account is")
		}
		out, notes, err = templated(opts, gen, region, notes)
		if err != nil {
			return err
		}
	}
	for _, n := range jobsNotes(opts, opts.shadowNotes(notes)) {
		fmt.Fprintf(opts.IO.ErrOut, "iotctl: note: %s\n", n)
	}
	_, err = opts.IO.Out.Write(out)
	return err
}

// clientID is --client-id, else an explicitly set prefix followed by *.
func clientID(s *profile.Settings) string {
	if s.ClientID != "" {
		return s.ClientID
	}
	if s.IsSet("client-id-prefix") && s.ClientIDPrefix != "" {
		return s.ClientIDPrefix + "*"
	}
	return ""
}

// templated renders a cloudformation or terraform policy, checking its
// size once deployed: with the region given, else a long one.
func templated(opts *Options, gen policy.GenOptions, region string, notes []string) ([]byte, []string, error) {
	sizing := gen
	sizing.Region, sizing.Account = region, "123456789012"
	if sizing.Region == "" {
		sizing.Region = "ap-southeast-1"
	}
	doc, more, err := policy.Generate(sizing)
	if err != nil {
		return nil, nil, err
	}
	notes = append(notes, more...)
	data, err := doc.JSON()
	if err != nil {
		return nil, nil, err
	}
	if err := policy.CheckSize(data); err != nil {
		return nil, nil, err
	}
	var out []byte
	if opts.Format == FormatCloudFormation {
		out, err = cloudFormation(gen, opts.Name)
	} else {
		out, err = terraform(gen, opts.Name)
	}
	return out, notes, err
}
