package shadow

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/iotsvc"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestMain(m *testing.M) {
	// No profile or IOTCTL_* setting of the machine may leak into the tests.
	home, err := os.MkdirTemp("", "iotctl-shadow-test-")
	if err != nil {
		panic(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "IOTCTL_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("IOTCTL_HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

func TestNewCmdUpdate(t *testing.T) {
	ios, _, out, errOut := cmdutil.Test()
	var got *UpdateOptions
	root := clitest.Root(NewCmdUpdate(cmdutil.NewFactory(ios, "test"), func(_ context.Context, o *UpdateOptions) error { got = o; return nil }), out, errOut)
	root.SetArgs([]string{"update", "--thing", "t", "--name", "n", "--version", "3", "--clear-desired", "--reported", "{}", "-W", "2", "-"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Stdin || !got.HasVersion || got.Version != 3 || !got.ClearDesired || got.Reported != "{}" || got.Name != "n" || got.Timeout != 2*time.Second {
		t.Errorf("options %+v", got)
	}
	st, tg, err := got.resolve()
	if err != nil || tg.thing != "t" || st.ThingName != "t" {
		t.Errorf("resolve: %v %+v", err, tg)
	}
	for _, args := range [][]string{{"update", "x"}, {"update", "-", "-"}} {
		root.SetArgs(args)
		if err := root.Execute(); cmdutil.ExitCode(err) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestThingName(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"--thing-name", "a"}, want: "a"},
		{args: []string{"--client-id", "dev-1"}, want: "dev-1"},
		{args: []string{"--client-id", "dev-1", "--thing-name", "a"}, want: "a"},
		{args: nil, wantErr: "no thing name: give --thing NAME"},
		{args: []string{"--client-id", "a/b"}, wantErr: `--client-id: thing name "a/b" has a / (a topic level separator)`},
		{args: []string{"--thing-name", "a\x1b"}, wantErr: `--thing: thing name "a\x1b" has a control character`},
		{args: []string{"--thing-name", strings.Repeat("a", 129)}, wantErr: "thing name of 129 bytes: the service allows at most 128"},
	} {
		st := testenv.Settings(t, tt.args...)
		got, err := iotsvc.ThingName(st)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || cmdutil.ExitCode(err) != 2 {
				t.Errorf("%q: err %v, want %q (exit 2)", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: %q %v, want %q", tt.args, got, err, tt.want)
		}
	}
	t.Setenv("IOTCTL_THING_NAME", "a+b")
	if _, err := iotsvc.ThingName(testenv.Settings(t)); err == nil || !strings.Contains(err.Error(), "IOTCTL_THING_NAME:") {
		t.Errorf("from the environment: %v", err)
	}
}

func TestUpdateState(t *testing.T) {
	file := t.TempDir() + "/state.json"
	if err := os.WriteFile(file, []byte(`{"state":{"reported":{"a":1}},"version":4,"metadata":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		opts    UpdateOptions
		stdin   string
		want    string
		wantErr string
	}{
		{name: "desired", opts: UpdateOptions{Desired: ` {"color": "red"} `}, want: `{"desired":{"color":"red"}}`},
		{name: "both", opts: UpdateOptions{Desired: `{"a":1}`, Reported: `null`}, want: `{"desired":{"a":1},"reported":null}`},
		{name: "clear desired", opts: UpdateOptions{ClearDesired: true, Reported: `{"a":null}`}, want: `{"desired":null,"reported":{"a":null}}`},
		{name: "numbers kept", opts: UpdateOptions{Reported: `{"big":12345678901234567890,"f":1.50}`}, want: `{"reported":{"big":12345678901234567890,"f":1.50}}`},
		{name: "state", opts: UpdateOptions{State: `{"desired":{"a":1}}`}, want: `{"desired":{"a":1}}`},
		{name: "a whole document", opts: UpdateOptions{StateFile: file}, want: `{"reported":{"a":1}}`},
		{name: "stdin", opts: UpdateOptions{Stdin: true}, stdin: "{\"reported\":\n{\"t\":21.5}}\n", want: `{"reported":{"t":21.5}}`},
		{name: "the service judges the nodes", opts: UpdateOptions{State: `{"desired":"red"}`}, want: `{"desired":"red"}`},
		{name: "nothing", wantErr: "nothing to update"},
		{name: "two states", opts: UpdateOptions{State: "{}", Stdin: true}, wantErr: "--state and - both give the state"},
		{name: "state and desired", opts: UpdateOptions{State: "{}", Desired: "{}"}, wantErr: "--state gives the whole state"},
		{name: "desired twice", opts: UpdateOptions{Desired: "{}", ClearDesired: true}, wantErr: "--desired and --clear-desired"},
		{name: "bad JSON", opts: UpdateOptions{Desired: `{"a":`}, wantErr: "--desired: invalid JSON"},
		{name: "trailing", opts: UpdateOptions{Reported: `{} x`}, wantErr: "--reported: invalid JSON: more after the JSON value"},
		{name: "not an object", opts: UpdateOptions{Desired: `[1]`}, wantErr: "--desired: want a JSON object"},
		{name: "state array", opts: UpdateOptions{State: `[]`}, wantErr: "--state: the state must be a JSON object, not array"},
		{name: "state null", opts: UpdateOptions{State: `null`}, wantErr: "--state: the state must be a JSON object"},
		{name: "inner state", opts: UpdateOptions{State: `{"state":5}`}, wantErr: `its "state" must be a JSON object`},
		{name: "no file", opts: UpdateOptions{StateFile: "/nonexistent/x.json"}, wantErr: "--state-file: open /nonexistent/x.json"},
		{name: "stdin too big", opts: UpdateOptions{Stdin: true}, stdin: strings.Repeat(" ", maxStateInput+1), wantErr: "more than 256 KiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, _, _ := cmdutil.Test()
			in.WriteString(tt.stdin)
			tt.opts.IO = ios
			got, err := tt.opts.state(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || cmdutil.ExitCode(err) != 2 {
					t.Fatalf("err %v, want %q (exit 2)", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("state %s %v, want %s", got, err, tt.want)
			}
		})
	}
}

func TestPrintDocument(t *testing.T) {
	payload := `{"state":{"desired":{"color":"red","l":{"on":true}},"reported":{"color":"gr\u001b[2Jeen"},"delta":{"color":"red"}},
		"metadata":{"desired":{"color":{"timestamp":1764730000}}},"version":7,"timestamp":1764730000,"clientToken":"abc"}`
	var b bytes.Buffer
	if err := printDocument(&b, true, []byte(payload), ""); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || doc["clientToken"] != nil || doc["version"] != 7.0 || !strings.HasPrefix(b.String(), "{\n  \"state\"") {
		t.Errorf("json: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := printDocument(&b, false, []byte(payload), "shadow: the classic shadow of t"); err != nil {
		t.Fatal(err)
	}
	want := `shadow: the classic shadow of t
  version    7
  timestamp  2025-12-03T02:46:40Z
  desired
    color = "red"
    l.on = true
  reported
    color = "gr\u001b[2Jeen"
  delta
    color = "red"
`
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
}

// subscribed tells when a client subscribes to a filter.
type subscribed struct {
	broker.HookBase
	filter string
	ch     chan struct{}
}

func (s *subscribed) ID() string           { return "shadow-test-subscribed" }
func (s *subscribed) Provides(b byte) bool { return b == broker.OnSubscribed }
func (s *subscribed) OnSubscribed(_ *broker.Client, pk packets.Packet, _ []byte) {
	for _, f := range pk.Filters {
		if f.Filter == s.filter {
			select {
			case s.ch <- struct{}{}:
			default:
			}
		}
	}
}

// TestNoService: on a broker without the Shadow service a request times
// out naming the operation (exit 5), and a signal ends it (exit 130).
func TestNoService(t *testing.T) {
	hook := &subscribed{filter: "$aws/things/t/shadow/get/accepted", ch: make(chan struct{}, 1)}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{hook}})
	get := func(ctx context.Context, timeout string) error {
		ios, _, out, errOut := cmdutil.Test()
		root := clitest.Root(NewCmdGet(cmdutil.NewFactory(ios, "test"), nil), out, errOut)
		root.SetArgs([]string{"get", "--thing", "t", "--endpoint", b.URL(broker.MQTT), "--timeout", timeout})
		return root.ExecuteContext(ctx)
	}
	err := get(context.Background(), "1s")
	if errs.KindOf(err) != errs.Timeout || !strings.Contains(err.Error(), "no answer to $aws/things/t/shadow/get in time") {
		t.Errorf("err %v, want a timeout naming the operation", err)
	}
	<-hook.ch
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- get(ctx, "0") }()
	<-hook.ch
	cancel()
	err = <-done
	if code := cmdutil.ExitCode(cmdutil.Interrupted(ctx, err)); code != 130 {
		t.Errorf("interrupted: %v (exit %d), want exit 130", err, code)
	}
}

func TestWatchFormat(t *testing.T) {
	delta := `{"version":5,"timestamp":1764730000,"state":{"color":"red","l":{"on":true}},"metadata":{},"clientToken":"x"}`
	docs := `{"previous":{"state":{"desired":{"a":1}},"version":4},"current":{"state":{"desired":{"a":2},"reported":{"a":1}},"version":5},"timestamp":1764730000}`
	for _, tt := range []struct {
		json          bool
		payload, want string
	}{
		{true, " " + delta + "\n", delta},
		{false, delta, `version 5 at 2025-12-03T02:46:40Z: color = "red"; l.on = true`},
		{false, docs, `version 5 (was 4) at 2025-12-03T02:46:40Z: desired {"a":2} reported {"a":1}`},
	} {
		w := &watcher{json: tt.json}
		got, err := w.format([]byte(tt.payload))
		if err != nil || got != tt.want {
			t.Errorf("format(%s) = %q %v, want %q", tt.payload, got, err, tt.want)
		}
	}
	for _, p := range []string{"not json", "null", " null ", "[1]", `"s"`} {
		for _, js := range []bool{true, false} {
			if got, err := (&watcher{json: js}).format([]byte(p)); err == nil {
				t.Errorf("a payload that is no JSON object, %s, was formatted (-o json %v): %q", p, js, got)
			}
		}
	}
}
