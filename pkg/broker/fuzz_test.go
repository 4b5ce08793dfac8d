package broker

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// FuzzConnBytes feeds arbitrary bytes after a valid CONNECT (MQTT 5 or
// 3.1.1, chosen by the first byte) to an in-process broker over net.Pipe:
// the broker must not panic, must end or keep serving that connection, and
// a second client must still work; Close must return in time.
func FuzzConnBytes(f *testing.F) {
	seeds := [][]byte{
		{5, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
		{5, 0xC0, 0x80, 0x80, 0x80, 0x80, 0x00},
		{5, 0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'},
		{5, 0x30, 0x05, 0x00, 0x01, 'a', 0x0A, 0x01},
		{4, 0x36, 0x04, 0, 1, 'a', 'x'},
		{5, 0x62, 0x02, 0x00, 0x07},
		{5, 0xE0, 0x00},
	}
	seeds = append(seeds, append([]byte{5}, pub5(0x30, nil, []byte{0x23, 0, 5}, "x")...))
	seeds = append(seeds, append([]byte{5}, encodePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 5,
		Filters: packets.Subscriptions{{Filter: "$share/g/#", Qos: 2}, {Filter: "#", Qos: 1, RetainHandling: 1}}})...))
	seeds = append(seeds, append([]byte{5}, encodePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2, Retain: true}, PacketID: 3, ProtocolVersion: 5,
		TopicName: "healthy/h", Payload: []byte("r"), Properties: packets.Properties{TopicAlias: 1, TopicAliasFlag: true, MessageExpiryInterval: 1}})...))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := byte(5)
		if len(data) > 0 {
			if data[0] == 4 {
				v = 4
			}
			data = data[1:]
		}
		s := newServer(DefaultCapabilities(), slog.New(slog.DiscardHandler))
		a, srv := net.Pipe()
		ended := make(chan struct{})
		go func() { _ = s.serve(srv, "mqtt"); close(ended) }()
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, a); close(drained) }()
		_ = a.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := a.Write(encodePacket(connectPacket("fuzz", v, false))); err != nil {
			t.Fatalf("CONNECT: %v", err)
		}
		_, _ = a.Write(data)

		h, hsrv := net.Pipe()
		hended := make(chan struct{})
		go func() { _ = s.serve(hsrv, "mqtt"); close(hended) }()
		healthyOn(t, newRaw(t, h), "h")
		h.Close()
		a.Close()
		for _, ch := range []chan struct{}{ended, hended, drained} {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				t.Fatal("a connection did not end after its pipe closed")
			}
		}
		if err := s.close(time.Second); err != nil {
			t.Fatal(err)
		}
	})
}
