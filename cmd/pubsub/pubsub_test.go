package pubsub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profile"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/spf13/cobra"
)

func run(t *testing.T, o func(*Options), settings ...string) (error, string, string) {
	t.Helper()
	st := testenv.Settings(t, settings...)
	out, errOut := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	opts := &Options{
		IO:       &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		Settings: func() (*profile.Settings, error) { return st, nil },
		Topic:    "test/topic", Message: "Hello World!", Count: 10, Interval: 10 * time.Millisecond, Timeout: 30 * time.Second,
	}
	if o != nil {
		o(opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := pubsubRun(ctx, opts)
	return err, out.String(), errOut.String()
}

func wantReceived(t *testing.T, out string, n int) {
	t.Helper()
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "Received message on topic test/topic: Hello World! [%d]\n", i)
	}
	if out != want.String() {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out, want.String())
	}
}

func TestEmbedded(t *testing.T) {
	err, out, errOut := run(t, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	wantReceived(t, out, 10)
	for _, step := range []string{"started the embedded broker on mqtt://127.0.0.1:", "Connecting to mqtt://127.0.0.1:", "with client ID 'test-", "Connected\n",
		"Subscribed to test/topic: SUBACK reason code 0x01", "Publishing message to topic 'test/topic': Hello World! [10]",
		"PUBACK received for message [10]: success", "Received all 10 messages", "Unsubscribed from test/topic", "Disconnected", "Stopped"} {
		if !strings.Contains(errOut, step) {
			t.Errorf("stderr lacks %q:\n%s", step, errOut)
		}
	}
}

func TestMosquitto(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	err, out, errOut := run(t, nil, "--endpoint", m.URL(), "--client_id", "test-seed-spelling")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	wantReceived(t, out, 10)
	if strings.Contains(errOut, "embedded") || !strings.Contains(errOut, "client ID 'test-seed-spelling'") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// dropHook acknowledges every publish and delivers none.
type dropHook struct{ broker.HookBase }

func (dropHook) ID() string           { return "drop" }
func (dropHook) Provides(b byte) bool { return b == broker.OnPublish }
func (dropHook) OnPublish(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error) {
	return pk, mpackets.CodeSuccessIgnore
}

func TestTimeout(t *testing.T) {
	b, err := broker.New(broker.Options{Listen: "127.0.0.1:0", Hooks: []broker.Hook{&dropHook{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err, out, errOut := run(t, func(o *Options) { o.Count, o.Timeout = 3, 300*time.Millisecond }, "--endpoint", b.URL("mqtt"))
	if cmdutil.ExitCode(err) != 5 || !strings.Contains(err.Error(), "received 0 of 3") {
		t.Fatalf("exit %d: %v\n%s", cmdutil.ExitCode(err), err, errOut)
	}
	if out != "" || !strings.Contains(errOut, "Stopped") {
		t.Errorf("stdout %q stderr %s", out, errOut)
	}
}

func TestFlags(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	var got *Options
	root := &cobra.Command{Use: "iotctl"}
	root.SetGlobalNormalizationFunc(cmdutil.NormalizeFlag)
	root.AddCommand(NewCmdPubSub(f, func(o *Options) error { got = o; return nil }))
	root.SetArgs([]string{"pubsub"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Topic != "test/topic" || got.Message != "Hello World!" || got.Count != 10 || got.Interval != time.Second || got.Timeout != 30*time.Second {
		t.Fatalf("defaults %+v", got)
	}
}
