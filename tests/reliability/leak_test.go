package reliability

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/relay"
	"github.com/iotctl/iotctl/pkg/session"
	"go.uber.org/goleak"
)

// TestSessionLeavesNoGoroutine: an in-process session publishes and
// receives 2,000 QoS 1 messages through a relay that cuts its connection
// every 100-300 ms, then closes: every goroutine it started is gone
// (goleak), and every message came through.
func TestSessionLeavesNoGoroutine(t *testing.T) {
	leakOpts := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpts) })
	const n = 2000
	b := startBroker(t, "127.0.0.1:0")
	r := relay.Start(t, hostPort(b.URL("mqtt")))
	got := newLineSet(n)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	s := goSession(t, ctx, func(m *session.Message) error { got.add(m.Payload); return nil },
		"--endpoint", r.URL(), "--client-id", "rel-leak", "--clean-start=false", "--session-expiry", "1h")
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: "rel/leak", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	r.CutEvery(100*time.Millisecond, 300*time.Millisecond)
	for i := 0; i < n; i++ {
		if err := s.Publish(ctx, &session.Message{Topic: "rel/leak", QoS: 1, Payload: []byte(strconv.Itoa(i))}, nil); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // spread the run over a few cuts
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !got.waitFor(n, 30*time.Second, nil) {
		t.Errorf("%d of %d messages came back; missing e.g. %v", got.distinct(), n, got.missing(10))
	}
	cuts := r.Cuts()
	r.Stop()
	if err := s.Close(ctx, 0); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	b.Close()
	distinct, dups, _ := got.counts()
	t.Logf("%d messages through %d cuts, %d duplicates", distinct, cuts, dups)
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", cuts, "fault", "relay-cut-in-process-session")
}
