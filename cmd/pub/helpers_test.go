package pub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

// pubOpts builds Options with test streams; stdin may be nil.
func pubOpts(t testing.TB, stdin io.Reader, settingsArgs ...string) (*Options, *testenv.SyncBuffer) {
	t.Helper()
	st := testenv.Settings(t, settingsArgs...)
	errOut := &testenv.SyncBuffer{}
	ios := &cmdutil.IOStreams{In: stdin, Out: &bytes.Buffer{}, ErrOut: errOut}
	if stdin == nil {
		ios.In = strings.NewReader("")
	}
	return &Options{
		IO:       ios,
		Settings: func() (*profile.Settings, error) { return st, nil },
		Warn:     func(m string) { fmt.Fprintln(errOut, "warning:", m) },
		Count:    1,
		Grace:    2 * time.Second,
	}, errOut
}

func brokerAddr(b *broker.Broker) string { return strings.TrimPrefix(b.URL("mqtt"), "mqtt://") }

// fnHook is a mochi hook made of the functions that are set.
type fnHook struct {
	broker.HookBase
	onConnect func(cl *broker.Client, pk mpackets.Packet) error
	acl       func(cl *broker.Client, topic string, write bool) bool
	onPublish func(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error)
}

func (h *fnHook) ID() string { return "pub-test" }
func (h *fnHook) Provides(b byte) bool {
	switch b {
	case broker.OnConnect:
		return h.onConnect != nil
	case broker.OnACLCheck:
		return h.acl != nil
	case broker.OnPublish:
		return h.onPublish != nil
	}
	return false
}
func (h *fnHook) OnConnect(cl *broker.Client, pk mpackets.Packet) error { return h.onConnect(cl, pk) }
func (h *fnHook) OnACLCheck(cl *broker.Client, topic string, write bool) bool {
	return h.acl(cl, topic, write)
}
func (h *fnHook) OnPublish(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error) {
	return h.onPublish(cl, pk)
}

// lineSet tracks which of lines 1..n arrived (payload = decimal line number).
type lineSet struct {
	mu   sync.Mutex
	seen []bool
	n    int // distinct
	dups int
	bad  int
	ch   chan struct{}
}

func newLineSet(n int) *lineSet { return &lineSet{seen: make([]bool, n+1), ch: make(chan struct{}, 1)} }

func (s *lineSet) add(payload []byte) {
	v := 0
	for _, c := range payload {
		if c < '0' || c > '9' {
			v = -1
			break
		}
		v = v*10 + int(c-'0')
	}
	s.mu.Lock()
	switch {
	case v <= 0 || v >= len(s.seen):
		s.bad++
	case s.seen[v]:
		s.dups++
	default:
		s.seen[v] = true
		s.n++
	}
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

func (s *lineSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// waitFor waits until at least n distinct lines arrived or d passed.
func (s *lineSet) waitFor(n int, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for s.count() < n {
		select {
		case <-s.ch:
		case <-deadline.C:
			return false
		}
	}
	return true
}

func (s *lineSet) missing(limit int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i := 1; i < len(s.seen) && len(out) < limit; i++ {
		if !s.seen[i] {
			out = append(out, i)
		}
	}
	return out
}

// numberedLines is "1\n2\n…n\n".
func numberedLines(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.Bytes()
}

// subscriber is a persistent-session subscriber recording lines.
func subscriber(t testing.TB, endpoint, id, topic string, lines *lineSet) *session.Session {
	t.Helper()
	st := testenv.Settings(t, "--endpoint", endpoint, "--client-id", id, "--clean-start=false", "--session-expiry", "1h", "--receive-maximum", "1000")
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Reconnect: true,
		Handler: func(m *session.Message) error { lines.add(m.Payload); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx, 0)
	})
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: topic, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	return s
}
