package gen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func TestNewCmdGen(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr bool
	}{
		{
			name: "defaults",
			args: []string{},
			want: Options{Format: FormatJSON},
		},
		{
			name: "every flag",
			args: []string{"--account", "123456789012", "-t", "a", "--topic", "b", "--publish", "p", "--subscribe", "s/+", "--subscribe", "s/#",
				"--receive", "r", "--retain", "--thing", "--format", "terraform", "--name", "n"},
			want: Options{Account: "123456789012", Topics: []string{"a", "b"}, Publish: []string{"p"}, Subscribe: []string{"s/+", "s/#"},
				Receive: []string{"r"}, Retain: true, Thing: true, Format: FormatTerraform, Name: "n"},
		},
		{name: "no arguments", args: []string{"x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			f := &cmdutil.Factory{IOStreams: ios}
			var got *Options
			cmd := NewCmdGen(f, func(o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.ErrOut)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Settings = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func settings(s profile.Settings) func() (*profile.Settings, error) {
	if s.Endpoint == "" {
		s.Endpoint = "localhost"
	}
	return func() (*profile.Settings, error) { return &s, nil }
}

func run(t *testing.T, opts Options, s profile.Settings) (stdout, stderr string, err error) {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	opts.IO, opts.Settings = ios, settings(s)
	if opts.Format == "" {
		opts.Format = FormatJSON
	}
	err = genRun(&opts)
	return out.String(), errOut.String(), err
}

func TestGenRunSeed(t *testing.T) {
	want, err := os.ReadFile("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run(t, Options{Topics: []string{"test/topic"}, Account: "123456789012"},
		profile.Settings{ClientID: "test-*", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(stderr, "iotctl: note: client/test-* lets every matching client ID connect") {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestGenRun(t *testing.T) {
	prefix := profile.Settings{Entries: []profile.Entry{{Name: "client-id-prefix", Value: "test-", Source: profile.FromProfile}}, ClientIDPrefix: "test-"}
	long := make([]string, 40)
	for i := range long {
		long[i] = "some/rather/long/topic/name/number/" + strings.Repeat("x", 10) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	tests := []struct {
		name       string
		opts       Options
		settings   profile.Settings
		wantOut    []string
		wantStderr []string
		noStderr   []string
		env        map[string]string
		wantErr    string
	}{
		{
			name:     "region from the endpoint",
			opts:     Options{Account: "123456789012"},
			settings: profile.Settings{ClientID: "c", Endpoint: "a1-ats.iot.eu-west-1.amazonaws.com"},
			wantOut:  []string{`"arn:aws:iot:eu-west-1:123456789012:client/c"`},
		},
		{
			name:       "default region",
			opts:       Options{Account: "123456789012"},
			settings:   profile.Settings{ClientID: "c"},
			wantOut:    []string{`"arn:aws:iot:us-east-1:123456789012:client/c"`},
			wantStderr: []string{"region us-east-1 (default: no --region"},
		},
		{
			name:       "region from AWS_REGION",
			opts:       Options{Account: "123456789012"},
			settings:   profile.Settings{ClientID: "c"},
			env:        map[string]string{"AWS_REGION": "eu-west-1"},
			wantOut:    []string{`"arn:aws:iot:eu-west-1:123456789012:client/c"`},
			wantStderr: []string{"iotctl: note: region eu-west-1 (from AWS_REGION): give --region for another"},
		},
		{
			name:       "region from the AWS profile",
			opts:       Options{Account: "123456789012"},
			settings:   profile.Settings{ClientID: "c"},
			env:        map[string]string{"AWS_PROFILE": "work"},
			wantOut:    []string{`"arn:aws:iot:sa-east-1:123456789012:client/c"`},
			wantStderr: []string{"iotctl: note: region sa-east-1 (from AWS profile work in "},
		},
		{
			name:     "--region wins over AWS_REGION, no note",
			opts:     Options{Account: "123456789012"},
			settings: profile.Settings{ClientID: "c", Region: "ca-central-1"},
			env:      map[string]string{"AWS_REGION": "eu-west-1"},
			wantOut:  []string{`"arn:aws:iot:ca-central-1:123456789012:client/c"`},
			noStderr: []string{"region"},
		},
		{
			name:     "client ID prefix from a profile",
			opts:     Options{Account: "123456789012"},
			settings: prefix,
			wantOut:  []string{`:client/test-*"`},
		},
		{
			name:       "subscribe plus",
			opts:       Options{Account: "123456789012", Subscribe: []string{"a/+/b"}},
			settings:   profile.Settings{ClientID: "c", Region: "us-east-1"},
			wantOut:    []string{`"arn:aws:iot:us-east-1:123456789012:topic/a/*/b"`, `"arn:aws:iot:us-east-1:123456789012:topicfilter/a/+/b"`},
			wantStderr: []string{"iotctl: note: iot:Receive on topic/a/*/b is wider than the filter a/+/b"},
		},
		{
			name:       "thing",
			opts:       Options{Account: "123456789012", Thing: true},
			settings:   profile.Settings{ClientID: "c", Region: "us-east-1"},
			wantOut:    []string{`:client/${iot:Connection.Thing.ThingName}"`},
			wantStderr: []string{"client ID c is not used", "--thing: the client must connect with its thing name"},
		},
		{
			name:     "retain",
			opts:     Options{Account: "123456789012", Publish: []string{"p"}, Retain: true},
			settings: profile.Settings{ClientID: "c", Region: "us-east-1"},
			wantOut:  []string{`"iot:RetainPublish"`},
		},
		{name: "no account", opts: Options{}, settings: profile.Settings{ClientID: "c"}, wantErr: "--account is required (12 digits)"},
		{name: "bad account", opts: Options{Account: "12"}, settings: profile.Settings{ClientID: "c"}, wantErr: `invalid --account "12"`},
		{name: "no client ID", opts: Options{Account: "123456789012"}, settings: profile.Settings{}, wantErr: "no client ID: give --client-id"},
		{name: "bad region", opts: Options{Account: "123456789012"}, settings: profile.Settings{ClientID: "c", Region: "mars"}, wantErr: `invalid region "mars"`},
		{name: "bad format", opts: Options{Format: "yaml"}, settings: profile.Settings{ClientID: "c"}, wantErr: `invalid --format "yaml"`},
		{name: "bad name", opts: Options{Format: FormatTerraform, Name: "a b"}, settings: profile.Settings{ClientID: "c"}, wantErr: `invalid --name "a b"`},
		{name: "name too long", opts: Options{Format: FormatTerraform, Name: strings.Repeat("n", 129)}, settings: profile.Settings{ClientID: "c"}, wantErr: "invalid --name"},
		{name: "wildcard publish", opts: Options{Account: "123456789012", Publish: []string{"a/+"}}, settings: profile.Settings{ClientID: "c"}, wantErr: "contains an MQTT wildcard"},
		{name: "too big", opts: Options{Account: "123456789012", Topics: long}, settings: profile.Settings{ClientID: "c", Region: "us-east-1"}, wantErr: "characters without whitespace: AWS IoT allows at most 2048"},
		{name: "too big as a template", opts: Options{Format: FormatCloudFormation, Topics: long}, settings: profile.Settings{ClientID: "c"}, wantErr: "AWS IoT allows at most 2048"},
	}
	awsConfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(awsConfig, []byte("[profile work]\nregion = sa-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
				t.Setenv(v, tt.env[v])
			}
			t.Setenv("AWS_CONFIG_FILE", awsConfig)
			out, stderr, err := run(t, tt.opts, tt.settings)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if code := cmdutil.ExitCode(err); code != 2 {
					t.Errorf("exit code %d, want 2", code)
				}
				if out != "" {
					t.Errorf("stdout = %q, want nothing", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %s:\n%s", w, out)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tt.noStderr {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
			if !json.Valid([]byte(out)) {
				t.Errorf("stdout is not JSON:\n%s", out)
			}
		})
	}
}

func TestGenRunCloudFormation(t *testing.T) {
	out, stderr, err := run(t, Options{Format: FormatCloudFormation, Topics: []string{"test/topic"}, Subscribe: []string{"cmd/${iot:ClientId}"}, Account: "123456789012", Name: "seed"},
		profile.Settings{ClientID: "test-*"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "--account is not used") {
		t.Errorf("stderr = %q", stderr)
	}
	var tmpl struct {
		AWSTemplateFormatVersion string
		Resources                map[string]struct {
			Type       string
			Properties struct {
				PolicyName     string
				PolicyDocument struct {
					Version   string
					Statement []struct {
						Effect   string
						Action   []string
						Resource []map[string]string
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &tmpl); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	r, ok := tmpl.Resources["IotctlPolicy"]
	if !ok || r.Type != "AWS::IoT::Policy" || r.Properties.PolicyName != "seed" || tmpl.AWSTemplateFormatVersion != "2010-09-09" {
		t.Fatalf("template:\n%s", out)
	}
	var subs []string
	for _, s := range r.Properties.PolicyDocument.Statement {
		for _, res := range s.Resource {
			subs = append(subs, res["Fn::Sub"])
		}
	}
	want := []string{
		"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/test/topic", // Publish
		"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/test/topic", // Receive
		"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/cmd/${!iot:ClientId}",
		"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topicfilter/test/topic",
		"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topicfilter/cmd/${!iot:ClientId}",
		"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/test-*",
	}
	if !reflect.DeepEqual(subs, want) {
		t.Errorf("Fn::Sub strings:\n%q\nwant:\n%q", subs, want)
	}
}

func TestGenRunTerraform(t *testing.T) {
	out, _, err := run(t, Options{Format: FormatTerraform, Thing: true, Publish: []string{"dt/${iot:Connection.Thing.ThingName}", "pct/%{x}"}},
		profile.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		`data "aws_caller_identity" "current" {}`,
		`data "aws_region" "current" {}`,
		`data "aws_partition" "current" {}`,
		`resource "aws_iot_policy" "iotctl" {`,
		`name   = "iotctl-policy"`,
		"policy = <<EOF\n{\n",
		"\n}\nEOF\n}\n",
		`"arn:${data.aws_partition.current.partition}:iot:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:topic/dt/$${iot:Connection.Thing.ThingName}"`,
		`:topic/pct/%%{x}"`,
		`:client/$${iot:Connection.Thing.ThingName}"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("terraform lacks %q:\n%s", w, out)
		}
	}
	if strings.Count(out, "{") != strings.Count(out, "}") || strings.Count(out, "[") != strings.Count(out, "]") {
		t.Errorf("unbalanced braces:\n%s", out)
	}
	// The heredoc body is the policy JSON.
	body := out[strings.Index(out, "<<EOF\n")+len("<<EOF\n") : strings.LastIndex(out, "EOF\n")]
	if !json.Valid([]byte(body)) {
		t.Errorf("heredoc is not JSON:\n%s", body)
	}
}

func TestGenRunSettingsError(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	want := errs.Usagef("bad settings")
	opts := Options{IO: ios, Format: FormatJSON, Settings: func() (*profile.Settings, error) { return nil, want }}
	if err := genRun(&opts); err != want {
		t.Errorf("err = %v", err)
	}
}
