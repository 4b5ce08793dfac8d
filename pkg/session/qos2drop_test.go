package session

import (
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// A QoS 2 message the reader could not hand over (the inbox full, the
// connection lost meanwhile) was never delivered, yet its packet ID stayed
// marked as received: the broker's redelivery after a reconnect with the
// session present was then taken for a copy of a message being handled,
// and dropped. The lost message must be delivered from its redelivery.
func TestQoS2RedeliveryAfterDroppedHandover(t *testing.T) {
	s := &Session{qos2In: make(map[uint16]qos2State), inbox: make(chan inItem), stopCh: make(chan struct{})}
	old := &conn{s: s, done: make(chan struct{})}
	close(old.done) // lost while the reader waited for room in the inbox
	s.onPublish(old, &packets.Publish{QoS: 2, PacketID: 7, Topic: "t"}, []byte("x"))

	s.inbox = make(chan inItem, 1)
	c := &conn{s: s, done: make(chan struct{})}
	s.onPublish(c, &packets.Publish{QoS: 2, PacketID: 7, Topic: "t", Duplicate: true}, []byte("x"))
	select {
	case it := <-s.inbox:
		if it.m == nil || string(it.m.Payload) != "x" || it.ack.c != c {
			t.Fatalf("redelivery handed over as %+v", it)
		}
	default:
		t.Fatal("the redelivery of a message never delivered was dropped")
	}
}
