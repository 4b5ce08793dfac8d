package sub

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

func TestMain(m *testing.M) {
	// No profile or IOTCTL_* setting of the machine may leak into the tests.
	home, err := os.MkdirTemp("", "iotctl-sub-test-")
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

// syncBuffer is a bytes.Buffer safe to read while sub writes to it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testRoot mirrors cmd/root: persistent settings flags, normalisation, sub.
func testRoot(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	return clitest.Root(NewCmdSub(f, runF), f.IOStreams.Out, f.IOStreams.ErrOut)
}

// subProc is one `iotctl sub` run in-process.
type subProc struct {
	out, errOut *syncBuffer
	subscribed  chan struct{}
	done        chan struct{}
	err         error
}

// startSub runs `iotctl sub --endpoint endpoint args…` through the command
// tree with test streams, in the background.
func startSub(t *testing.T, ctx context.Context, endpoint string, args ...string) *subProc {
	t.Helper()
	return startSubOut(t, ctx, nil, endpoint, args...)
}

// startSubOut is startSub writing its output to out (nil: p.out).
func startSubOut(t *testing.T, ctx context.Context, out io.Writer, endpoint string, args ...string) *subProc {
	t.Helper()
	p := &subProc{out: newSyncBuffer(), errOut: newSyncBuffer(), subscribed: make(chan struct{}), done: make(chan struct{})}
	if out == nil {
		out = p.out
	}
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: p.errOut}
	f := cmdutil.NewFactory(ios, "test")
	var once sync.Once
	root := testRoot(f, func(o *Options) error {
		o.onSubscribed = func() { once.Do(func() { close(p.subscribed) }) }
		return subRun(ctx, o)
	})
	root.SetArgs(append([]string{"sub", "--endpoint", endpoint, "--connect-timeout", "5s"}, args...))
	go func() {
		defer close(p.done)
		p.err = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("sub did not end")
		}
	})
	return p
}

// runSub runs sub to the end and returns its output and exit code.
func runSub(t *testing.T, endpoint string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, endpoint, args...)
	p.wait(t)
	return p.out.String(), p.errOut.String(), cmdutil.ExitCode(p.err)
}

func (p *subProc) waitSubscribed(t *testing.T) {
	t.Helper()
	select {
	case <-p.subscribed:
	case <-p.done:
		t.Fatalf("sub ended before subscribing: %v\nstderr: %s", p.err, p.errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("sub did not subscribe\nstderr: %s", p.errOut.String())
	}
}

func (p *subProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sub did not end; stdout so far %q, stderr %q", p.out.String(), p.errOut.String())
	}
	return cmdutil.ExitCode(p.err)
}

// waitOutput waits until stdout holds n lines.
func (p *subProc) waitOutput(t *testing.T, n int) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s := p.out.String()
		if strings.Count(s, "\n") >= n {
			return s
		}
		select {
		case <-p.out.changed:
		case <-p.done:
			t.Fatalf("sub ended with %d of %d lines: %v\n%s", strings.Count(p.out.String(), "\n"), n, p.err, p.errOut.String())
		case <-deadline:
			t.Fatalf("waiting for %d lines, have %q", n, s)
		}
	}
}

// startBroker runs the embedded broker on a free loopback port.
func startBroker(t *testing.T, hooks ...broker.Hook) string {
	t.Helper()
	b := testenv.StartBroker(t, broker.Options{Listen: "127.0.0.1:0", Home: t.TempDir(), Hooks: hooks})
	return b.URL("mqtt")
}

func startMosquitto(t *testing.T, cfg testpeer.MosquittoConfig) *testpeer.Mosquitto {
	t.Helper()
	testpeer.Require(t, "mosquitto_pub")
	testpeer.Require(t, "mosquitto_sub")
	return testpeer.StartMosquitto(t, cfg)
}

// publish sends messages with pkg/session and waits for their acks.
func publish(t *testing.T, endpoint string, msgs ...*session.Message) {
	t.Helper()
	st := testenv.Settings(t, "--endpoint", endpoint)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p})
	if err != nil {
		t.Fatalf("publisher connect: %v", err)
	}
	defer s.Close(ctx, 0)
	errc := make(chan error, len(msgs))
	for _, m := range msgs {
		if err := s.Publish(ctx, m, func(err error) { errc <- err }); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	for range msgs {
		if err := <-errc; err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// mosq runs mosquitto_pub or mosquitto_sub against m with args.
func mosq(t *testing.T, m *testpeer.Mosquitto, program string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(m.Port()), "-V", "mqttv5"}, args...)
	out, err := exec.CommandContext(ctx, testpeer.Require(t, program), all...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", program, strings.Join(all, " "), err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
