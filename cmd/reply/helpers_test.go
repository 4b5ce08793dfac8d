package reply

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/req"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

func TestMain(m *testing.M) {
	// No profile or IOTCTL_* setting of the machine may leak into the tests.
	home, err := os.MkdirTemp("", "iotctl-reply-test-")
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

// watchBuffer is a buffer safe to read while a command writes to it, with
// a wake-up on every write.
type watchBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{changed: make(chan struct{}, 1)} }

func (s *watchBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *watchBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer contains want.
func (s *watchBuffer) waitFor(t *testing.T, want string, done <-chan struct{}) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.changed:
		case <-done:
			if !strings.Contains(s.String(), want) {
				t.Fatalf("ended before %q appeared in %q", want, s.String())
			}
		case <-deadline:
			t.Fatalf("waiting for %q in %q", want, s.String())
		}
	}
}

// replyProc is one `iotctl reply` run in-process.
type replyProc struct {
	errOut     *watchBuffer
	subscribed chan struct{}
	done       chan struct{}
	cancel     context.CancelFunc
	err        error
}

// startReply runs `iotctl reply --endpoint endpoint args…` and waits until
// it subscribed.
func startReply(t *testing.T, endpoint string, args ...string) *replyProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &replyProc{errOut: newWatchBuffer(), subscribed: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: p.errOut}
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(NewCmdReply(f, func(o *Options) error {
		o.onSubscribed = func() { close(p.subscribed) }
		return replyRun(ctx, o)
	}), ios.Out, ios.ErrOut)
	root.SetArgs(append([]string{"reply", "--endpoint", endpoint, "--connect-timeout", "10s"}, args...))
	go func() {
		defer close(p.done)
		p.err = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("reply did not end")
		}
	})
	select {
	case <-p.subscribed:
	case <-p.done:
		t.Fatalf("reply ended before subscribing: %v\nstderr: %s", p.err, p.errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("reply did not subscribe\nstderr: %s", p.errOut.String())
	}
	return p
}

// stop interrupts reply (as SIGTERM does) and returns its exit code.
func (p *replyProc) stop(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("reply did not end after the interruption; stderr %q", p.errOut.String())
	}
	return cmdutil.ExitCode(p.err)
}

// runReq runs `iotctl req --endpoint endpoint args…` in-process to the end.
func runReq(t *testing.T, endpoint string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(req.NewCmdReq(f, nil), &out, &errOut)
	root.SetArgs(append([]string{"req", "--endpoint", endpoint, "--connect-timeout", "10s"}, args...))
	err := root.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

// startBroker runs the embedded broker on a free loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	b := testenv.StartBroker(t, broker.Options{Listen: "127.0.0.1:0", Home: t.TempDir()})
	return b.URL("mqtt")
}

// connectSession connects a plain pkg/session client (a third-party peer
// of the tests) with handler h.
func connectSession(t *testing.T, endpoint string, h func(*session.Message) error) *session.Session {
	t.Helper()
	st := testenv.Settings(t, "--endpoint", endpoint)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: h})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx, 0)
	})
	return s
}

func subscribe(t *testing.T, s *session.Session, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: filter, QoS: qos}}); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
}

func publishWait(t *testing.T, s *session.Session, m *session.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	if err := s.Publish(ctx, m, func(err error) { done <- err }); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("publish: no acknowledgement")
	}
}

func clitestRoot(f *cmdutil.Factory) *cobra.Command {
	return clitest.Root(NewCmdReply(f, nil), f.IOStreams.Out, f.IOStreams.ErrOut)
}
