package req

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "iotctl-req-test-")
	if err != nil {
		panic(err)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "IOTCTL_") && k != "IOTCTL_REQUIRE_PEERS" {
			os.Unsetenv(k)
		}
	}
	os.Setenv("IOTCTL_HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// echoResponder answers every request on filter with its payload, from a
// plain pkg/session client, and records the requests' properties.
func echoResponder(t *testing.T, endpoint, filter string) <-chan session.Properties {
	t.Helper()
	st := testenv.Settings(t, "--endpoint", endpoint)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := make(chan session.Properties, 16)
	var s *session.Session
	ready := make(chan struct{})
	s, err = session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: func(m *session.Message) error {
		<-ready
		seen <- m.Props
		resp := &session.Message{Topic: m.Props.ResponseTopic, Payload: m.Payload, QoS: 1, Props: session.Properties{CorrelationData: m.Props.CorrelationData}}
		go func() { _ = s.Publish(context.Background(), resp, nil) }()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	t.Cleanup(func() { _ = s.Close(context.Background(), 0) })
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: filter, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	return seen
}

func run(t *testing.T, stdin, endpoint string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	ios := &cmdutil.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	root := clitest.Root(NewCmdReq(cmdutil.NewFactory(ios, "test"), nil), &out, &errOut)
	root.SetArgs(append([]string{"req", "--endpoint", endpoint}, args...))
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String() + errString(err), cmdutil.ExitCode(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPayloadSources(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{Home: t.TempDir()})
	ep := b.URL("mqtt")
	seen := echoResponder(t, ep, "echo/#")
	file := filepath.Join(t.TempDir(), "req.bin")
	if err := os.WriteFile(file, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"message", "", []string{"-m", "hi"}, "hi\n"},
		{"file", "", []string{"-f", file}, "from a file\n"},
		{"stdin", "piped", []string{"--stdin"}, "piped\n"},
		{"dash", "dashed", []string{"-f", "-"}, "dashed\n"},
		{"argument", "arg", []string{"-"}, "arg\n"},
		{"null", "", []string{"-n"}, "\n"},
		{"hex", "", []string{"-m", "6869", "--encoding", "hex"}, "hi\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, tc.stdin, ep, append([]string{"-t", "echo/" + tc.name, "-q", "1"}, tc.args...)...)
			if code != 0 || out != tc.want {
				t.Fatalf("exit %d, %q (want %q), stderr %q", code, out, tc.want, errOut)
			}
			p := <-seen
			if !strings.HasPrefix(p.ResponseTopic, ResponseTopicPrefix) || len(p.CorrelationData) != 16 {
				t.Fatalf("request properties: %+v", p)
			}
		})
	}
	out, errOut, code := run(t, "", ep, "-t", "echo/own", "-m", "x", "--response-topic", "my/answers")
	if code != 0 || out != "x\n" {
		t.Fatalf("--response-topic: exit %d, %q, %q", code, out, errOut)
	}
	if p := <-seen; p.ResponseTopic != "my/answers" {
		t.Fatalf("response topic %q, want my/answers", p.ResponseTopic)
	}
}

// A response topic equal to the request topic would make req take its own
// request for the response (MQTT 3.1.1 has no correlation data to tell
// them apart, and under MQTT 5 the request carries the very correlation
// data req waits for): a usage error before connecting, as reply refuses a
// response topic its filter matches.
func TestResponseTopicIsRequestTopic(t *testing.T) {
	for _, v := range []string{"5", "3.1.1"} {
		_, errOut, code := run(t, "", "mqtt://127.0.0.1:1", "-V", v, "-t", "svc/a", "--response-topic", "svc/a", "-m", "hello", "-W", "2s")
		if code != 2 || !strings.Contains(errOut, "--response-topic \"svc/a\" is the request topic") {
			t.Errorf("-V %s: exit %d: %s", v, code, errOut)
		}
	}
}
