package check

import (
	"encoding/json"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/profile"
)

func TestNewCmdCheck(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{
			name: "short flags",
			args: []string{"-p", "a.json", "-p", "b.json", "-a", "iot:Publish", "-r", "topic/x"},
			want: Options{Policies: []string{"a.json", "b.json"}, Action: "iot:Publish", Resource: "topic/x"},
		},
		{
			name: "files as arguments",
			args: []string{"a.json", "--policy", "b.json", "--action", "iot:Connect", "--resource", "client/c", "--account", "111122223333",
				"--thing-name", "t", "--thing-attribute", "k=v", "--thing-attribute", "x=y"},
			want: Options{Policies: []string{"b.json", "a.json"}, Action: "iot:Connect", Resource: "client/c", Account: "111122223333",
				ThingName: "t", ThingAttributes: []string{"k=v", "x=y"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			var got *Options
			cmd := NewCmdCheck(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			got.IO, got.Settings = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestCheckRun(t *testing.T) {
	arn := "arn:aws:iot:us-east-1:123456789012:"
	tests := []struct {
		name       string
		opts       Options
		settings   profile.Settings
		stdin      string
		wantOut    string
		wantStderr string
		wantErr    string
		wantCode   int
	}{
		{
			name:    "seed allows publish",
			opts:    Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Publish", Resource: "topic/test/topic"},
			wantOut: "ALLOW: iot:Publish on " + arn + "topic/test/topic\n  by testdata/seed.json Statement[0]: Allow iot:Publish on " + arn + "topic/test/topic\n",
		},
		{
			name:    "action case and full ARN",
			opts:    Options{Policies: []string{"testdata/seed.json"}, Action: "IOT:receive", Resource: arn + "topic/test/topic"},
			wantOut: "ALLOW: iot:Receive on " + arn + "topic/test/topic\n  by testdata/seed.json Statement[0]: Allow iot:Receive on " + arn + "topic/test/topic\n",
		},
		{
			name:     "implicit deny",
			opts:     Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Publish", Resource: "topic/other"},
			wantOut:  "DENY: no statement allows iot:Publish on " + arn + "topic/other\n",
			wantErr:  "policy denies iot:Publish on " + arn + "topic/other",
			wantCode: 4,
		},
		{
			name:     "explicit deny across files",
			opts:     Options{Policies: []string{"testdata/seed.json", "testdata/deny.json"}, Action: "iot:Publish", Resource: "topic/test/topic"},
			wantOut:  "DENY: iot:Publish on " + arn + "topic/test/topic\n  by testdata/deny.json Statement[0] (Sid \"NoTestPublish\"): Deny iot:Publish on " + arn + "topic/test/*\n",
			wantErr:  "policy denies iot:Publish on " + arn + "topic/test/topic",
			wantCode: 4,
		},
		{
			name:    "connect takes the client ID from the resource",
			opts:    Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Connect", Resource: "client/test-42"},
			wantOut: "ALLOW: iot:Connect on " + arn + "client/test-42\n  by testdata/seed.json Statement[2]: Allow iot:Connect on " + arn + "client/test-*\n",
		},
		{
			name:     "thing: region and account from the policy",
			opts:     Options{Policies: []string{"testdata/thing.json"}, Action: "iot:Publish", Resource: "topic/plant7/sensor-7/temp", ThingName: "sensor-7", ThingAttributes: []string{"site=plant7"}},
			wantOut:  "ALLOW: iot:Publish on arn:aws:iot:eu-west-1:111122223333:topic/plant7/sensor-7/temp\n  by testdata/thing.json Statement[1] (Sid \"Site\"): Allow iot:Publish on arn:aws:iot:eu-west-1:111122223333:topic/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/*\n",
			settings: profile.Settings{ClientID: "sensor-7"},
		},
		{
			name:     "thing: other site",
			opts:     Options{Policies: []string{"testdata/thing.json"}, Action: "iot:Publish", Resource: "topic/plant8/sensor-7/temp", ThingName: "sensor-7", ThingAttributes: []string{"site=plant7"}},
			settings: profile.Settings{ClientID: "sensor-7"},
			wantErr:  "policy denies", wantCode: 4,
		},
		{
			name:    "thing connect without thing name",
			opts:    Options{Policies: []string{"testdata/thing.json"}, Action: "iot:Connect", Resource: "client/sensor-7"},
			wantErr: "policy denies iot:Connect on arn:aws:iot:eu-west-1:111122223333:client/sensor-7", wantCode: 4,
		},
		{
			name:     "plus filter is literal",
			opts:     Options{Policies: []string{"testdata/thing.json"}, Action: "iot:Subscribe", Resource: "topicfilter/cmd/sensor-7/reboot"},
			settings: profile.Settings{ClientID: "sensor-7"},
			wantErr:  "policy denies", wantCode: 4,
		},
		{
			name:     "plus filter allowed",
			opts:     Options{Policies: []string{"testdata/thing.json"}, Action: "iot:Subscribe", Resource: "topicfilter/cmd/sensor-7/+"},
			settings: profile.Settings{ClientID: "sensor-7"},
			wantOut:  "ALLOW: iot:Subscribe on arn:aws:iot:eu-west-1:111122223333:topicfilter/cmd/sensor-7/+\n",
		},
		{
			name:     "explicit region and account win",
			opts:     Options{Policies: []string{"testdata/thing.json"}, Action: "iot:Subscribe", Resource: "topicfilter/cmd/sensor-7/+", Account: "123456789012"},
			settings: profile.Settings{ClientID: "sensor-7", Region: "us-east-1"},
			wantOut:  "DENY: no statement allows iot:Subscribe on arn:aws:iot:us-east-1:123456789012:topicfilter/cmd/sensor-7/+\n",
			wantErr:  "policy denies", wantCode: 4,
		},
		{
			name:    "stdin",
			opts:    Options{Policies: []string{"-"}, Action: "iot:Connect", Resource: "client/a"},
			stdin:   `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}`,
			wantOut: "ALLOW: iot:Connect on arn:aws:iot:us-east-1:123456789012:client/a\n  by - Statement[0]: Allow iot:* on *\n",
		},
		{
			name:       "old version note",
			opts:       Options{Policies: []string{"testdata/old.json"}, Action: "iot:Connect", Resource: "client/a"},
			wantStderr: "testdata/old.json: Version is not 2012-10-17, so its ${…} variables are plain text",
			wantErr:    "policy denies", wantCode: 4,
		},
		{name: "no policy", opts: Options{Action: "iot:Connect", Resource: "client/a"}, wantErr: "no policy: give --policy FILE", wantCode: 2},
		{name: "no action", opts: Options{Policies: []string{"testdata/seed.json"}, Resource: "client/a"}, wantErr: "no action", wantCode: 2},
		{name: "unknown action", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Pub", Resource: "topic/a"}, wantErr: `unknown action "iot:Pub": want one of iot:Connect, iot:Publish`, wantCode: 2},
		{name: "wildcard action", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:*", Resource: "topic/a"}, wantErr: "unknown action", wantCode: 2},
		{name: "no resource", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Connect"}, wantErr: "no resource", wantCode: 2},
		{name: "bad resource", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Publish", Resource: "a/b"}, wantErr: `invalid --resource "a/b"`, wantCode: 2},
		{name: "subscribe on a topic", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Subscribe", Resource: "topic/test/topic"}, wantErr: "iot:Subscribe is checked against topicfilter/… resources, not topic/…: give --resource topicfilter/test/topic", wantCode: 2},
		{name: "bad account", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Connect", Resource: "client/a", Account: "x"}, wantErr: `invalid --account "x"`, wantCode: 2},
		{name: "bad attribute", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Connect", Resource: "client/a", ThingName: "t", ThingAttributes: []string{"k"}}, wantErr: `invalid --thing-attribute "k"`, wantCode: 2},
		{name: "attribute without thing", opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Connect", Resource: "client/a", ThingAttributes: []string{"k=v"}}, wantErr: "--thing-attribute needs --thing-name", wantCode: 2},
		{name: "missing file", opts: Options{Policies: []string{"testdata/nope.json"}, Action: "iot:Connect", Resource: "client/a"}, wantErr: "read testdata/nope.json", wantCode: 2},
		{name: "unsupported condition", opts: Options{Policies: []string{"testdata/condition.json"}, Action: "iot:Connect", Resource: "client/a"}, wantErr: "testdata/condition.json: policy Statement[0]: Condition is not supported by iotctl", wantCode: 2},
		{name: "stdin twice", opts: Options{Policies: []string{"-", "-"}, Action: "iot:Connect", Resource: "client/a"}, stdin: "{}", wantErr: "stdin holds one policy", wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := cmdutil.Test()
			in.WriteString(tt.stdin)
			s := tt.settings
			s.Endpoint, s.Output = "localhost", "text"
			tt.opts.IO = ios
			tt.opts.Settings = func() (*profile.Settings, error) { return &s, nil }
			err := checkRun(&tt.opts)
			if code := cmdutil.ExitCode(err); code != tt.wantCode {
				t.Errorf("exit code %d (%v), want %d", code, err, tt.wantCode)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && err != nil {
				t.Errorf("err = %v", err)
			}
			if tt.wantOut != "" && !strings.HasPrefix(out.String(), tt.wantOut) {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.wantOut)
			}
			if tt.wantCode == 2 && out.Len() > 0 {
				t.Errorf("stdout = %q on a usage error", out)
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", errOut, tt.wantStderr)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestCheckRunJSON checks -o json against testdata/decision-*.json: one
// document, indented as every command's, the exit code as in text mode.
func TestCheckRunJSON(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantCode int
	}{
		{
			name: "allow",
			opts: Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Subscribe", Resource: "topicfilter/test/topic"},
		},
		{
			name:     "explicit-deny",
			opts:     Options{Policies: []string{"testdata/seed.json", "testdata/deny.json"}, Action: "iot:Publish", Resource: "topic/test/topic"},
			wantCode: 4,
		},
		{
			name:     "implicit-deny",
			opts:     Options{Policies: []string{"testdata/seed.json"}, Action: "iot:Publish", Resource: "topic/x"},
			wantCode: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, _ := cmdutil.Test()
			tt.opts.IO = ios
			tt.opts.Settings = func() (*profile.Settings, error) {
				return &profile.Settings{Endpoint: "localhost", Output: "json"}, nil
			}
			err := checkRun(&tt.opts)
			if code := cmdutil.ExitCode(err); code != tt.wantCode {
				t.Errorf("exit code %d (%v), want %d", code, err, tt.wantCode)
			}
			if !json.Valid(out.Bytes()) {
				t.Fatalf("not JSON: %s", out)
			}
			golden(t, "decision-"+tt.name+".json", out.String())
		})
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	clitest.Golden(t, name, got, *update)
}
