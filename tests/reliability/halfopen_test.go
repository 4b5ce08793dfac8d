package reliability

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connectLog records when each client's sessions are established.
type connectLog struct {
	broker.HookBase
	mu  sync.Mutex
	at  map[string][]time.Time
	got *lineSet // payloads published, when set
}

func (h *connectLog) ID() string { return "rel-connect-log" }
func (h *connectLog) Provides(b byte) bool {
	return b == broker.OnSessionEstablished || b == broker.OnPublish
}
func (h *connectLog) OnSessionEstablished(cl *broker.Client, _ packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at == nil {
		h.at = map[string][]time.Time{}
	}
	h.at[cl.ID] = append(h.at[cl.ID], time.Now())
}
func (h *connectLog) OnPublish(_ *broker.Client, pk packets.Packet) (packets.Packet, error) {
	if h.got != nil && pk.TopicName == "rel/halfopen-pub" {
		h.got.add(pk.Payload)
	}
	return pk, nil
}
func (h *connectLog) connects(id string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.at[id]...)
}

// TestHalfOpen: the relay stops forwarding without closing anything
// (Freeze; a black hole, so the broker's own keepalive timeout does not
// reach the client either). With --keepalive 2s, sub and pub notice within 1.5 keepalive
// intervals (PINGREQ unanswered); the relay is thawed once they do, and
// they reconnect (seen in their -v log and by the broker). The bound
// asserted is 3x keepalive, for -race on a loaded machine; the measured
// value is reported.
func TestHalfOpen(t *testing.T) {
	const keepalive = 2 * time.Second
	hook := &connectLog{got: newLineSet(20)}
	b := startBroker(t, "127.0.0.1:0", hook)
	r := startBlackhole(t, hostPort(b.URL("mqtt")))
	common := []string{"--endpoint", r.URL(), "--keepalive", "2s", "--session-expiry", "1h", "--clean-start=false"}

	measure := func(t *testing.T, p *clitest.Proc, id string) time.Duration {
		t.Helper()
		r.Freeze()
		frozen := time.Now()
		p.WaitStderr(t, "connection lost", 5*keepalive)
		detected := time.Since(frozen)
		r.Thaw()
		// The client's own keepalive must be what noticed, not the broker
		// closing the connection (which the relay passes on even frozen).
		var why string
		for _, l := range strings.Split(p.Stderr.String(), "\n") {
			if strings.Contains(l, "connection lost") {
				why = l
				break
			}
		}
		t.Logf("%s: %s", id, why)
		if !strings.Contains(why, "no answer from the broker") {
			t.Errorf("the connection loss was not noticed by the client's keepalive: %q", why)
		}
		p.WaitStderr(t, "reconnected", 30*time.Second)
		reconnected := time.Since(frozen)
		// mochi runs OnSessionEstablished after it sends the CONNACK.
		deadline := time.Now().Add(10 * time.Second)
		for len(hook.connects(id)) < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if c := hook.connects(id); len(c) < 2 {
			t.Errorf("the broker saw %d connections of %s, want a reconnect", len(c), id)
		}
		t.Logf("%s: half-open connection detected %s after the freeze (%.2f x keepalive), reconnected after %s", id, detected.Round(time.Millisecond), detected.Seconds()/keepalive.Seconds(), reconnected.Round(time.Millisecond))
		if detected > 3*keepalive {
			t.Errorf("detected after %s: more than 3 x keepalive (%s); the design bound is 1.5 x", detected, 3*keepalive)
		}
		report(t, "fault", "relay-freeze", "faults", 1, "keepalive_s", keepalive.Seconds(), "detect_s", detected.Seconds(), "detect_x_keepalive", detected.Seconds()/keepalive.Seconds(), "reconnect_s", reconnected.Seconds())
		return detected
	}

	t.Run("sub", func(t *testing.T) {
		out := clitest.NewBuffer()
		sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: out, Args: append(append([]string{}, common...),
			"--client-id", "rel-halfopen-sub", "sub", "-t", "rel/halfopen", "-q", "1", "-C", "1")})
		sub.WaitStderr(t, "subscribed to rel/halfopen", 30*time.Second)
		measure(t, sub, "rel-halfopen-sub")
		if err := b.Publish("rel/halfopen", []byte("after"), false, 1); err != nil {
			t.Fatal(err)
		}
		if code := sub.Wait(t, 30*time.Second); code != 0 || out.String() != "after\n" {
			t.Errorf("sub: exit %d, stdout %q; want 0 and the message sent after the reconnect\n%s", code, out.String(), clitest.Tail(sub.Stderr.String(), 20))
		}
	})

	t.Run("pub", func(t *testing.T) {
		in, w := io.Pipe()
		pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: in, Args: append(append([]string{}, common...),
			"--client-id", "rel-halfopen-pub", "pub", "-t", "rel/halfopen-pub", "-l", "-q", "1", "-v")})
		t.Cleanup(func() { w.Close() })
		write := func(from, to int) {
			var sb strings.Builder
			for i := from; i < to; i++ {
				sb.WriteString(strconv.Itoa(i) + "\n")
			}
			if _, err := io.WriteString(w, sb.String()); err != nil {
				t.Fatal(err)
			}
		}
		write(0, 10)
		if !hook.got.waitFor(10, 30*time.Second, pub.Done()) {
			t.Fatalf("only %d lines arrived before the freeze\n%s", hook.got.distinct(), pub.Stderr.String())
		}
		measure(t, pub, "rel-halfopen-pub")
		write(10, 20)
		w.Close()
		if code := pub.Wait(t, 30*time.Second); code != 0 {
			t.Fatalf("pub exit %d\n%s", code, clitest.Tail(pub.Stderr.String(), 20))
		}
		if d := hook.got.distinct(); d != 20 {
			t.Errorf("%d of 20 lines arrived; missing %v", d, hook.got.missing(20))
		}
	})
}
