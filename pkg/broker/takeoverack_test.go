package broker

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// holdConnack holds the first CONNACK for client ID id until release is
// closed; held receives that connection.
type holdConnack struct {
	HookBase
	id      string
	taken   atomic.Bool
	held    chan *Client // buffered
	release chan struct{}
}

func (h *holdConnack) ID() string           { return "test-hold-connack" }
func (h *holdConnack) Provides(b byte) bool { return b == OnPacketEncode }
func (h *holdConnack) OnPacketEncode(cl *Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.ID == h.id {
		if h.taken.CompareAndSwap(false, true) {
			h.held <- cl
			<-h.release
		}
	}
	return pk
}

// TestTakeoverBeforeWriter: a connection taken over while its CONNACK is
// being sent (it has its session, its writer has not started) still gets
// CONNACK and then DISCONNECT 0x8E. It used to be closed without either,
// which a reconnecting client reads as a lost connection: it reconnected
// and took the session back from the newer client.
func TestTakeoverBeforeWriter(t *testing.T) {
	hook := &holdConnack{id: "twin", held: make(chan *Client, 1), release: make(chan struct{})}
	b := start(t, Options{Listen: "127.0.0.1:0", Hooks: []Hook{hook}})
	released := false
	defer func() {
		if !released {
			close(hook.release)
		}
	}()

	first := dialRaw(t, b)
	first.send(connectPacket("twin", 5, false))
	var cl *Client
	select {
	case cl = <-hook.held:
	case <-time.After(wait):
		t.Fatal("the first CONNACK never reached the hook")
	}

	second := dialRaw(t, b)
	second.send(connectPacket("twin", 5, false))
	// The second connection's attach finds the first and disconnects it;
	// wait for that (closing is set either way) before the CONNACK goes.
	deadline := time.Now().Add(wait)
	for {
		cl.c.mu.Lock()
		closing := cl.c.closing
		cl.c.mu.Unlock()
		if closing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second connection never took the session over")
		}
		time.Sleep(time.Millisecond)
	}
	close(hook.release)
	released = true

	if ack, err := first.read(); err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("first client: want CONNACK 0x00, got %s %#x, %v", packets.PacketNames[ack.FixedHeader.Type], ack.ReasonCode, err)
	}
	disc, err := first.closed()
	if err != nil {
		t.Fatal(err)
	}
	if disc == nil || disc.ReasonCode != packets.ErrSessionTakenOver.Code {
		t.Fatalf("first client: closed with DISCONNECT %+v, want reason 0x8E", disc)
	}
	if ack := second.expect(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("second client: CONNACK %#x", ack.ReasonCode)
	}
}
