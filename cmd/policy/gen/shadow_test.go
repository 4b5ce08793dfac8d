package gen

import (
	"os"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/profile"
)

func TestThingFlag(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		thing     bool
		thingName string
		wantErr   bool
	}{
		{args: []string{"--thing"}, thing: true},
		{args: []string{"--thing", "sensor-7", "--shadow"}, thing: true, thingName: "sensor-7"},
		{args: []string{"--shadow", "--thing=sensor-7"}, thing: true, thingName: "sensor-7"},
		{args: []string{"--thing=false"}},
		{args: []string{"sensor-7"}, wantErr: true},
		{args: []string{"--thing", "a", "b"}, wantErr: true},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			var got *Options
			cmd := NewCmdGen(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.ErrOut)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if code := cmdutil.ExitCode(err); code != 2 {
					t.Errorf("exit %d, want 2: %v", code, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Thing != tt.thing || got.ThingName != tt.thingName {
				t.Errorf("thing %t %q, want %t %q", got.Thing, got.ThingName, tt.thing, tt.thingName)
			}
		})
	}
}

// TestGenRunShadow: the thing's own shadow policy is the golden file;
// a named thing and named shadows; mistakes are usage errors.
func TestGenRunShadow(t *testing.T) {
	want, err := os.ReadFile("testdata/shadow.json")
	if err != nil {
		t.Fatal(err)
	}
	us := profile.Settings{Region: "us-east-1"}
	out, stderr, err := run(t, Options{Account: "123456789012", Thing: true, Shadow: true}, us)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(stderr, "contains * or ?") || !strings.Contains(stderr, "--shadow: the replies are allowed as shadow/get/*") {
		t.Errorf("stderr = %q", stderr)
	}

	out, stderr, err = run(t, Options{Account: "123456789012", Thing: true, ThingName: "sensor-7", Shadow: true, ShadowNames: []string{"config", "net"}}, us)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		`topic/$aws/things/sensor-7/shadow/name/config/update"`, `topicfilter/$aws/things/sensor-7/shadow/name/net/update/*"`,
		`client/sensor-7"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %s:\n%s", w, out)
		}
	}
	if strings.Contains(out, "sensor-7/shadow/update") || !strings.Contains(stderr, "client/sensor-7: the thing connects with its name") {
		t.Errorf("named shadows only, client/sensor-7: %s\n%s", out, stderr)
	}
	out, _, err = run(t, Options{Account: "123456789012", Thing: true, ThingName: "sensor-7", Shadow: true}, profile.Settings{Region: "us-east-1", ClientID: "app-1"})
	if err != nil || !strings.Contains(out, `client/app-1"`) || !strings.Contains(out, `sensor-7/shadow/get"`) {
		t.Errorf("an app's policy for sensor-7: %v\n%s", err, out)
	}

	for _, tt := range []struct {
		opts    Options
		wantErr string
	}{
		{Options{Shadow: true}, "--shadow needs the thing"},
		{Options{Thing: true, ShadowNames: []string{"a"}}, "--shadow-name without --shadow"},
		{Options{Thing: true, ThingName: "a/b", Shadow: true}, `--thing "a/b"`},
		{Options{Thing: true, ThingName: "a+", Shadow: true}, `--thing "a+"`},
		{Options{Thing: true, Shadow: true, ShadowNames: []string{"#"}}, `--shadow-name "#"`},
		{Options{Thing: true, Shadow: true, ShadowNames: []string{strings.Repeat("n", 65)}}, "--shadow-name"},
	} {
		tt.opts.Account = "123456789012"
		_, _, err := run(t, tt.opts, us)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || cmdutil.ExitCode(err) != 2 {
			t.Errorf("%+v: err = %v, want %q (exit 2)", tt.opts, err, tt.wantErr)
		}
	}
}
