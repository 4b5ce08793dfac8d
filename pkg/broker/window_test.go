package broker

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestResumeWithSmallerWindow: a session resumed with a smaller Receive
// Maximum than the one its deliveries went out under gets at most the new
// window unacknowledged, and every message, in order.
func TestResumeWithSmallerWindow(t *testing.T) {
	b := start(t, Options{Listen: "127.0.0.1:0"})
	c := dialRaw(t, b)
	pk := connectPacket("window-1", 5, true)
	pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
	pk.Properties.ReceiveMaximum = 50
	c.connect(pk)
	c.subscribe(1, packets.Subscription{Filter: "w/#", Qos: 1})
	for i := range 80 {
		if err := b.Publish("w/x", []byte{byte(i)}, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 { // read the first window, acknowledge none
		c.expect(packets.Publish)
	}
	c.nc.Close()

	c2 := dialRaw(t, b)
	pk2 := connectPacket("window-1", 5, false)
	pk2.Properties.SessionExpiryInterval, pk2.Properties.SessionExpiryIntervalFlag = 3600, true
	pk2.Properties.ReceiveMaximum = 10
	if ack := c2.connect(pk2); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	next := 0
	for next < 80 {
		var got []packets.Packet
		for range 10 {
			p := c2.expect(packets.Publish)
			got = append(got, p)
		}
		// The window is full: nothing more may come before an ack.
		if p, err := c2.readWithin(200 * time.Millisecond); err == nil {
			t.Fatalf("packet %s past a window of 10", packets.PacketNames[p.FixedHeader.Type])
		}
		for _, p := range got {
			if int(p.Payload[0]) != next {
				t.Fatalf("message %d is %d: out of order", next, p.Payload[0])
			}
			next++
			c2.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: p.PacketID})
		}
	}
}
