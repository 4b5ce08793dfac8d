package reliability

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// TestSessionResumeUnderLoad: a subscriber with a persistent session
// (clean start 0, expiry 1h) goes away and comes back 20 times while a
// publisher sends 2,000 QoS 1 messages to its topic as fast as the broker
// takes them. Every message the broker acknowledged must reach the
// subscriber on one of its connections. Only the broker is tested: the
// subscriber disconnects cleanly (DISCONNECT 0x00) and reconnects at
// moments the test chooses, the publisher never loses its connection.
//
// mochi v2.7.9, the broker core before ours, failed it every time (issue
// 10, item 7: the message TestEmulatorSigV4MaxAge lost): its takeover copied
// the old client's in-flight messages to the new client before routing
// moved to the new client, so a publish routed in between landed in the
// discarded client. Our core keeps the queue in the session, which routing
// reaches under the session's lock, and moves it to a new connection
// without a copy.
func TestSessionResumeUnderLoad(t *testing.T) {
	const n, cycles = 2000, 20
	b := testenv.StartBroker(t, broker.Options{Home: t.TempDir()})
	url := b.URL("mqtt")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	got := newLineSet(n)
	handler := func(m *session.Message) error { got.add(m.Payload); return nil }
	subArgs := []string{"--endpoint", url, "--client-id", "rel-resume-sub", "--clean-start=false", "--session-expiry", "1h"}
	sub := goSession(t, ctx, handler, subArgs...)
	if _, err := sub.Subscribe(ctx, []session.Subscription{{Filter: "rel/resume", QoS: 1}}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked, refused := 0, 0
	changed := make(chan struct{}, 1)
	pub := goSession(t, ctx, nil, "--endpoint", url, "--client-id", "rel-resume-pub")
	pubDone := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			err := pub.Publish(ctx, &session.Message{Topic: "rel/resume", QoS: 1, Payload: []byte(strconv.Itoa(i))}, func(err error) {
				mu.Lock()
				if err == nil {
					acked++
				} else {
					refused++
				}
				mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
			})
			if err != nil {
				pubDone <- err
				return
			}
		}
		pubDone <- pub.Flush(ctx)
	}()
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return acked + refused }
	// waitAcks waits until k more messages were acknowledged to the
	// publisher (or all were): the subscriber's absences and presences are
	// measured in messages, not time.
	waitAcks := func(k int) {
		target := min(ackedCount()+k, n)
		for ackedCount() < target {
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("publisher stalled at %d of %d acknowledgements", ackedCount(), n)
			}
		}
	}

	resumed := 0
	for c := 0; c < cycles && ackedCount() < n; c++ {
		waitAcks(n / cycles / 2) // online for a while
		if err := sub.Close(ctx, 0); err != nil {
			t.Fatal(err)
		}
		waitAcks(n / cycles / 2) // offline: the broker queues for the session
		sub = goSession(t, ctx, handler, subArgs...)
		if !sub.Capabilities().SessionPresent {
			t.Fatalf("reconnect %d: the broker lost the session (session present 0)", c+1)
		}
		resumed++
	}
	if err := <-pubDone; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	mu.Lock()
	if refused > 0 {
		t.Errorf("the broker refused %d publishes", refused)
	}
	mu.Unlock()
	if !got.waitFor(n, 30*time.Second, nil) {
		reportLoss(t, got, n)
		t.Fatalf("lost messages: %d of %d acknowledged messages reached the subscriber over %d resumes; missing e.g. %v", got.distinct(), n, resumed, got.missing(10))
	}
	if err := sub.Close(ctx, 0); err != nil {
		t.Error(err)
	}
	if err := pub.Close(ctx, 0); err != nil {
		t.Error(err)
	}
	distinct, dups, _ := got.counts()
	t.Logf("%d messages over %d resumes, %d duplicates", distinct, resumed, dups)
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", resumed, "fault", "persistent-session-resume-under-publish-load")
}
