package session

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// A broker that comes back with a smaller Receive Maximum gets no more
// unacknowledged messages than it allows: the resends after the reconnect
// fill the new window only. The fake broker proves it by order: it sends a
// QoS 1 message once the window is full, and the client's PUBACK for it
// must come before any further PUBLISH (the writer keeps the order in
// which packets were queued).
func TestReceiveMaximumShrinksAcrossReconnect(t *testing.T) {
	const before, after = 10, 2
	got := make(chan string, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for conn := 0; conn < 2; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			if _, err := packets.ReadPacket(r); err != nil {
				return
			}
			if conn == 0 {
				c.Write([]byte{0x20, 6, 0, 0, 3, 0x21, 0, before})
				for i := 0; i < before; i++ {
					if cp, err := packets.ReadPacket(r); err != nil || cp.Type != packets.PUBLISH {
						got <- "first connection: not the publishes"
						return
					}
				}
				c.Close()
				continue
			}
			c.Write([]byte{0x20, 6, 1, 0, 3, 0x21, 0, after})
			for i := 0; i < after; i++ {
				cp, err := packets.ReadPacket(r)
				if err != nil || cp.Type != packets.PUBLISH || !cp.Content.(*packets.Publish).Duplicate {
					got <- "second connection: not a resent PUBLISH"
					return
				}
			}
			publishPacket(7, 1, false, "probe").WriteTo(c)
			cp, err := packets.ReadPacket(r)
			switch {
			case err != nil:
				got <- err.Error()
			case cp.Type == packets.PUBACK:
				got <- "ok"
			default:
				got <- "a " + packetName(cp.Type) + " beyond the Receive Maximum of 2"
			}
			for {
				if _, err := packets.ReadPacket(r); err != nil {
					return
				}
			}
		}
	}()
	col := newCollector()
	s := dialSession(t, Options{Reconnect: true, Handler: col.handle}, "--endpoint", ln.Addr().String(), "--session-expiry", "60", "--client-id", "shrink", "--keepalive", "0")
	for i := 0; i < before; i++ {
		if err := s.Publish(context.Background(), &Message{Topic: "t", Payload: []byte("x"), QoS: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case g := <-got:
		if g != "ok" {
			t.Fatal(g)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fake broker saw nothing")
	}
}
