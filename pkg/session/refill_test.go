package session

import (
	"context"
	"testing"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
)

// A publisher blocked on a full window is woken when a quarter of the
// window is free, not per acknowledgement: it then refills the window in a
// burst (one hand-over to the writer, one write) instead of a packet per
// PUBACK, which is what cost CPU per message (issue 14). Flush is woken
// when the store is empty.
func TestWakeOnQuarterWindow(t *testing.T) {
	for _, window := range []int{1, 2, 3, 4, 16, 1000} {
		s := &Session{window: window, byID: map[uint16]*outMsg{}}
		var msgs []*outMsg
		for i := 0; i < window; i++ {
			om := s.store.get()
			om.id, om.sent = uint16(i+1), true
			s.byID[om.id] = om
			s.store.push(om)
			msgs = append(msgs, om)
		}
		quarter := max(1, window/4)
		for i, om := range msgs {
			ch := s.spaceWaiter()
			s.forgetMsg(om)
			free := i + 1
			woken := false
			select {
			case <-ch:
				woken = true
			default:
			}
			if want := free >= quarter || free == window; woken != want {
				t.Fatalf("window %d, %d free: woken %t, want %t", window, free, woken, want)
			}
		}
	}
}

// The same against a real broker: every message is acknowledged and Flush
// returns once the store is empty.
func TestRefillInQuarterWindows(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{Home: t.TempDir()})
	s := dialSession(t, Options{}, "--endpoint", b.URL(broker.MQTT), "--keepalive", "0")
	s.mu.Lock()
	window := s.window
	s.mu.Unlock()
	n := 20*window + 3
	acked := make(chan error, n)
	m := &Message{Topic: "refill", Payload: []byte("x"), QoS: 1}
	for i := 0; i < n; i++ {
		if err := s.Publish(context.Background(), m, func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-acked; err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}
