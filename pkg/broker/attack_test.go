package broker

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// healthy checks that a fresh client can still subscribe, publish at QoS 1
// and receive its own message.
func healthy(t *testing.T, b *Broker, id string) {
	t.Helper()
	healthyOn(t, dialRaw(t, b), id)
}

func healthyOn(t testing.TB, r *raw, id string) {
	t.Helper()
	if ack := r.connect(connectPacket(id, 5, true)); ack.ReasonCode != 0 {
		t.Fatalf("healthy client refused: %#x", ack.ReasonCode)
	}
	// A broker may send matching PUBLISHes before the SUBACK (MQTT 5
	// §3.8.4): another client may publish to this topic meanwhile.
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "healthy/" + id, Qos: 1}}})
	gotSub, gotAck, gotMsg := false, false, false
	for !gotSub || !gotAck || !gotMsg {
		pk, err := r.read()
		if err != nil {
			t.Fatalf("healthy client: %v", err)
		}
		switch pk.FixedHeader.Type {
		case packets.Suback:
			gotSub = true
			r.publish("healthy/"+id, "ok", 1, 7)
		case packets.Puback:
			gotAck = pk.PacketID == 7 && pk.ReasonCode == 0
		case packets.Publish:
			gotMsg = gotMsg || (gotSub && string(pk.Payload) == "ok")
			if pk.FixedHeader.Qos > 0 {
				r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
			}
		}
	}
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
}

func quietBroker(t *testing.T, caps *Capabilities) *Broker {
	return start(t, Options{Listen: "127.0.0.1:0", Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
}

// pub5 is a PUBLISH of MQTT 5 as raw bytes: topic, properties, payload.
func pub5(hdr byte, topic []byte, props []byte, payload string) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	if hdr&0x06 != 0 {
		body = append(body, 0, 1)
	}
	body = append(body, byte(len(props)))
	body = append(body, props...)
	body = append(body, payload...)
	return append([]byte{hdr, byte(len(body))}, body...)
}

// TestMalformedAfterConnect: each malformed or forbidden packet after a
// valid CONNECT ends that client's connection (with DISCONNECT and a
// reason code ≥ 0x80 under MQTT 5), and other clients keep working.
func TestMalformedAfterConnect(t *testing.T) {
	caps := DefaultCapabilities()
	caps.TopicAliasMaximum = 10
	b := quietBroker(t, &caps)
	second := encodePacket(func() packets.Packet { p := connectPacket("again", 5, true); return p }())
	cases := []struct {
		name string
		v    byte
		data []byte
		code byte // 0: any code ≥ 0x80
	}{
		{"remaining length over 4 bytes", 5, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 0x81},
		{"5-byte remaining length of 0", 5, []byte{0xC0, 0x80, 0x80, 0x80, 0x80, 0x00}, 0x81},
		{"endless remaining length", 5, append([]byte{0xC0}, make80(64)...), 0x81},
		{"packet type 0", 5, []byte{0x00, 0x00}, 0},
		{"packet type 15 (AUTH) without method", 5, []byte{0xF0, 0x00}, 0},
		{"PINGREQ with reserved flags", 5, []byte{0xC1, 0x00}, 0x81},
		{"SUBSCRIBE with flags 0", 5, []byte{0x80, 0x06, 0, 1, 0, 0, 1, 'a'}, 0x81},
		{"PUBLISH QoS 3", 5, pub5(0x36, []byte("a"), nil, "x"), 0},
		{"PUBLISH DUP at QoS 0", 5, pub5(0x38, []byte("a"), nil, "x"), 0},
		{"property length beyond packet", 5, []byte{0x30, 0x05, 0x00, 0x01, 'a', 0x0A, 0x01}, 0x81},
		{"truncated SUBSCRIBE options", 5, []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}, 0x81},
		{"SUBSCRIBE retain handling 3", 5, []byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x31}, 0x82},
		{"invalid UTF-8 topic", 5, pub5(0x30, []byte{0xC3, 0x28}, nil, "x"), 0},
		{"U+0000 in topic", 5, pub5(0x30, []byte{'a', 0, 'b'}, nil, "x"), 0},
		{"empty topic without alias", 5, pub5(0x30, nil, nil, "x"), 0x82},
		{"unknown topic alias", 5, pub5(0x30, nil, []byte{0x23, 0, 5}, "x"), 0x94},
		{"topic alias over the maximum", 5, pub5(0x30, []byte("a"), []byte{0x23, 0, 11}, "x"), 0x94},
		{"topic alias 0", 5, pub5(0x30, []byte("a"), []byte{0x23, 0, 0}, "x"), 0x94},
		{"wildcard in topic", 5, pub5(0x30, []byte("a/#"), nil, "x"), 0},
		{"second CONNECT", 5, second, 0x82},
		{"CONNACK from a client", 5, []byte{0x20, 0x03, 0, 0, 0}, 0},
		{"QoS 1 PUBLISH with packet ID 0", 5, []byte{0x32, 0x06, 0, 1, 'a', 0, 0, 0}, 0},
		{"v3 remaining length over 4 bytes", 4, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 0},
		{"v3 packet type 15", 4, []byte{0xF0, 0x00}, 0},
		{"v3 QoS 3", 4, []byte{0x36, 0x04, 0, 1, 'a', 'x'}, 0},
		{"v3 second CONNECT", 4, encodePacket(func() packets.Packet { p := connectPacket("again3", 4, true); return p }()), 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, b)
			if ack := r.connect(connectPacket(fmt.Sprintf("bad-%d", i), tc.v, true)); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x", ack.ReasonCode)
			}
			_ = r.write(tc.data)
			disc, err := r.closed()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.v < 5:
				if disc != nil {
					t.Errorf("DISCONNECT sent to an MQTT 3.1.1 client")
				}
			case disc == nil:
				t.Errorf("closed without DISCONNECT")
			case tc.code != 0 && disc.ReasonCode != tc.code:
				t.Errorf("DISCONNECT %#x, want %#x", disc.ReasonCode, tc.code)
			case disc.ReasonCode < 0x80:
				t.Errorf("DISCONNECT %#x, want an error code", disc.ReasonCode)
			}
			healthy(t, b, fmt.Sprintf("h-%d", i))
		})
	}
}

func make80(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0x80
	}
	return b
}

// TestPubrelUnknownID: PUBREL for an ID never received is answered with
// PUBCOMP 0x92 (MQTT 5) and the connection goes on.
func TestPubrelUnknownID(t *testing.T) {
	b := quietBroker(t, nil)
	r := dialRaw(t, b)
	r.connect(connectPacket("pubrel", 5, true))
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 42})
	pc := r.expect(packets.Pubcomp)
	if pc.PacketID != 42 || pc.ReasonCode != 0x92 {
		t.Fatalf("PUBCOMP id %d code %#x, want 42 0x92", pc.PacketID, pc.ReasonCode)
	}
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	r.expect(packets.Pingresp)
}

// TestMalformedConnect: malformed first packets end the connection without
// a successful CONNACK, and never affect other clients.
func TestMalformedConnect(t *testing.T) {
	b := quietBroker(t, nil)
	reserved := encodePacket(connectPacket("r", 5, true))
	reserved[9] |= 0x01 // connect flags: reserved bit
	badProps := encodePacket(connectPacket("p", 5, true))
	badProps[12] = 0x20 // property length beyond the packet
	cases := []struct {
		name string
		data []byte
	}{
		{"remaining length over 4 bytes", []byte{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}},
		{"5-byte remaining length", []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x00}},
		{"256 MB CONNECT", []byte{0x10, 0xFF, 0xFF, 0xFF, 0x7F}},
		{"packet type 0", []byte{0x00, 0x00}},
		{"packet type 15", []byte{0xF0, 0x00}},
		{"PUBLISH first", pub5(0x30, []byte("a"), nil, "x")},
		{"QoS 3 first", pub5(0x36, []byte("a"), nil, "x")},
		{"CONNECT with flags", append([]byte{0x11}, reserved[1:]...)},
		{"CONNECT reserved bit", reserved},
		{"CONNECT property length beyond packet", badProps},
		{"truncated CONNECT", reserved[:6]},
		{"protocol version 7", func() []byte { p := encodePacket(connectPacket("v", 5, true)); p[8] = 7; return p }()},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, b)
			_ = r.write(tc.data)
			if tc.name == "truncated CONNECT" {
				r.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			for {
				pk, err := r.read()
				if err != nil {
					break
				}
				if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode < 0x80 {
					t.Fatalf("CONNACK %#x", pk.ReasonCode)
				}
			}
			healthy(t, b, fmt.Sprintf("hc-%d", i))
		})
	}
}
