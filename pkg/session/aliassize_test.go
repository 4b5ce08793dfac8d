package session

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// A message that fits the broker's Maximum Packet Size in full must not be
// pushed over it by the Topic Alias property (3 bytes) the first PUBLISH
// to its topic would carry: MQTT 5 3.1.2.11.4 forbids the client to send
// it, and a broker ends the connection over it (0x95). Nor by an alias
// sent in place of a topic shorter than the property. Such a PUBLISH goes
// with its topic and no alias; a smaller one to the topic sets the alias.
func TestAliasWithinMaximumPacketSize(t *testing.T) {
	small := &Message{Topic: "a/b", Payload: []byte("p"), QoS: 1}
	big := &Message{Topic: "a/b", Payload: make([]byte, 100), QoS: 1}
	_, limit := publishSize(big, 1) // big fits exactly, in full
	smallX := &Message{Topic: "x", Payload: []byte("p"), QoS: 1}
	bigX := &Message{Topic: "x", Payload: make([]byte, 102), QoS: 1} // as big
	type seen struct {
		size  int
		topic string
		alias uint16
	}
	got := make(chan seen, 8)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		packets.ReadPacket(r)
		ack := packets.NewControlPacket(packets.CONNACK)
		tam, mps := uint16(5), uint32(limit)
		ack.Content.(*packets.Connack).Properties = &packets.Properties{TopicAliasMaximum: &tam, MaximumPacketSize: &mps}
		ack.WriteTo(c)
		for {
			// The raw packet, to measure it.
			b0, err := r.ReadByte()
			if err != nil {
				return
			}
			raw := []byte{b0}
			n, mult := 0, 1
			for {
				b, err := r.ReadByte()
				if err != nil {
					return
				}
				raw = append(raw, b)
				n += int(b&0x7F) * mult
				if b&0x80 == 0 {
					break
				}
				mult *= 128
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			if b0>>4 != packets.PUBLISH {
				continue
			}
			raw = append(raw, body...)
			cp, err := packets.ReadPacket(bytes.NewReader(raw))
			if err != nil {
				t.Errorf("fake broker: %v", err)
				return
			}
			p := cp.Content.(*packets.Publish)
			sp := seen{size: len(raw), topic: p.Topic}
			if p.Properties != nil && p.Properties.TopicAlias != nil {
				sp.alias = *p.Properties.TopicAlias
			}
			got <- sp
			puback(c, p.PacketID)
		}
	}()
	s := dialSession(t, Options{TopicAlias: true}, "--endpoint", ln.Addr().String())
	for _, m := range []*Message{big, small, big, smallX, bigX, smallX} {
		if err := s.Publish(context.Background(), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n := publishSize(bigX, 1); n != limit {
		t.Fatalf("bigX: %d bytes, want %d", n, limit)
	}
	// bigX aliased would be 2 bytes larger than with its 1-byte topic.
	want := []seen{{limit, "a/b", 0}, {0, "a/b", 1}, {0, "", 1}, {0, "x", 2}, {limit, "x", 0}, {0, "", 2}}
	for i, w := range want {
		select {
		case sp := <-got:
			if sp.size > limit {
				t.Errorf("PUBLISH %d: %d bytes, the broker's Maximum Packet Size is %d", i, sp.size, limit)
			}
			if w.size != 0 && sp.size != w.size {
				t.Errorf("PUBLISH %d: %d bytes, want %d", i, sp.size, w.size)
			}
			if sp.topic != w.topic || sp.alias != w.alias {
				t.Errorf("PUBLISH %d: topic %q alias %d, want %q %d", i, sp.topic, sp.alias, w.topic, w.alias)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no PUBLISH %d", i)
		}
	}
}

// Against mosquitto (max_packet_size): a message exactly its Maximum Packet
// Size, published with topic aliases on, arrives (with the alias property
// mosquitto ends the connection, and the message is dropped after three).
func TestAliasWithinMaximumPacketSizeMosquitto(t *testing.T) {
	const limit = 200
	addr := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: fmt.Sprintf("max_topic_alias 10\nmax_packet_size %d\n", limit)}).Addr()
	col := newCollector()
	sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", addr, "--client-id", "mps-sub")
	if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "mps/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	pub := dialSession(t, Options{Reconnect: true, TopicAlias: true}, "--endpoint", addr, "--client-id", "mps-pub")
	m := &Message{Topic: "mps/a", QoS: 1}
	for _, n := publishSize(m, 1); n < limit; _, n = publishSize(m, 1) {
		m.Payload = append(m.Payload, 'p')
	}
	if _, n := publishSize(m, 1); n != limit {
		t.Fatalf("%d bytes, want %d", n, limit)
	}
	errc := make(chan error, 2)
	for i := 0; i < 2; i++ {
		if err := pub.Publish(context.Background(), m, func(err error) { errc <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no acknowledgement")
		}
	}
	deadline := time.After(30 * time.Second)
	for col.count() < 2 {
		select {
		case <-col.ch:
		case <-deadline:
			t.Fatalf("%d of 2 messages arrived", col.count())
		}
	}
}
