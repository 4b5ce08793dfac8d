package session

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
)

func testProvider(t testing.TB, st *profile.Settings) auth.Provider {
	t.Helper()
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dialSession connects with settings built from args.
func dialSession(t testing.TB, o Options, args ...string) *Session {
	t.Helper()
	if o.Settings == nil {
		o.Settings = testenv.Settings(t, args...)
	}
	if o.Provider == nil {
		o.Provider = testProvider(t, o.Settings)
	}
	if testing.Verbose() && o.Log == nil {
		o.Log = testLog{t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Connect(ctx, o)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx, 0)
	})
	return s
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s", p)
	return len(p), nil
}

// collector gathers inbound messages.
type collector struct {
	mu   sync.Mutex
	msgs []*Message
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) handle(m *Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) all() []*Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Message(nil), c.msgs...)
}

// wait waits until n messages arrived.
func (c *collector) wait(t testing.TB, n int, d time.Duration) []*Message {
	t.Helper()
	deadline := time.After(d)
	for c.count() < n {
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("received %d of %d messages in %s", c.count(), n, d)
		}
	}
	return c.all()
}

var _ = io.Discard
