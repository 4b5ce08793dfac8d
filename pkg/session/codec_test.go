package session

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

func TestPublishEncodingMatchesPaho(t *testing.T) {
	msgs := []*Message{
		{Topic: "a", Payload: []byte("x")},
		{Topic: "a/b/c", Payload: []byte{}, Retain: true},
		{Topic: "t", Payload: bytes.Repeat([]byte("p"), 200000)},
		{Topic: "props", Payload: []byte("hello"), Props: Properties{
			UserProperties:  []UserProperty{{"k", "v"}, {"k", "v2"}, {"", ""}},
			ContentType:     "application/json",
			ResponseTopic:   "re/sp",
			CorrelationData: []byte{0, 1, 2},
			MessageExpiry:   ptr(uint32(70000)),
			PayloadFormat:   ptr(byte(1)),
		}},
	}
	for _, m := range msgs {
		for _, qos := range []byte{0, 1, 2} {
			for _, dup := range []bool{false, true} {
				var got, want bytes.Buffer
				w := bufio.NewWriter(&got)
				writePublish(w, m, m.Topic, 0, qos, 513, dup)
				w.Flush()
				pahoPublish(m, qos, 513, dup).WriteTo(&want)
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Fatalf("%s qos %d dup %t:\n got % x\nwant % x", m.Topic, qos, dup, head(got.Bytes()), head(want.Bytes()))
				}
				_, total := publishSize(m, qos)
				if total != got.Len() {
					t.Fatalf("publishSize %d, encoded %d", total, got.Len())
				}
				// And it decodes back through our frame reader.
				fr := frameReader{r: bufio.NewReader(&got)}
				f, err := fr.next()
				if err != nil {
					t.Fatal(err)
				}
				p, payload, err := f.decodePublish(nil)
				if err != nil {
					t.Fatal(err)
				}
				back := inbound(&p, payload, nil)
				back.Props.SubscriptionIDs = nil
				if !reflect.DeepEqual(back.Props, m.Props) || back.Topic != m.Topic || !bytes.Equal(back.Payload, m.Payload) || back.Retain != m.Retain {
					t.Fatalf("round trip %+v", back)
				}
				if p.QoS != qos || p.Duplicate != dup || (qos > 0 && p.PacketID != 513) {
					t.Fatalf("qos %d dup %t id %d, want %d %t 513", p.QoS, p.Duplicate, p.PacketID, qos, dup)
				}
				// paho's own decoder reads the same.
				cp, err := f.decode()
				if err != nil {
					t.Fatal(err)
				}
				pp := cp.Content.(*packets.Publish)
				if pp.Topic != p.Topic || pp.PacketID != p.PacketID || !bytes.Equal(pp.Payload, payload) || !(reflect.DeepEqual(pp.Properties, p.Properties) || p.Properties == nil && reflect.DeepEqual(*pp.Properties, packets.Properties{})) {
					t.Fatalf("paho decodes %+v, we %+v", pp, p)
				}
			}
		}
	}
}

func head(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func TestAckCodec(t *testing.T) {
	for _, typ := range []byte{packets.PUBACK, packets.PUBREC, packets.PUBREL, packets.PUBCOMP} {
		for _, rc := range []byte{0, 0x10, 0x87} {
			var got, want bytes.Buffer
			w := bufio.NewWriter(&got)
			writeAck(w, typ, 40000, rc)
			w.Flush()
			pahoAck(typ, 40000, rc).WriteTo(&want)
			// Ours leaves out what MQTT 5 lets a writer omit; paho reads it.
			cp, err := packets.ReadPacket(bytes.NewReader(got.Bytes()))
			if err != nil || cp.Type != typ || cp.PacketID() != 40000 {
				t.Fatalf("paho reads ours: %v %v", cp, err)
			}
			// And we read paho's.
			fr := frameReader{r: bufio.NewReader(&want)}
			f, err := fr.next()
			if err != nil {
				t.Fatal(err)
			}
			id, r, _, err := ackFields(f)
			if err != nil || id != 40000 || r != rc || f.typ() != typ {
				t.Errorf("decoded %d %x %v", id, r, err)
			}
		}
	}
	// A reason string is read through paho.
	cp := pahoAck(packets.PUBACK, 9, 0x87)
	cp.Content.(*packets.Puback).Properties.ReasonString = "policy says no"
	var b bytes.Buffer
	cp.WriteTo(&b)
	fr := frameReader{r: bufio.NewReader(&b)}
	f, _ := fr.next()
	id, rc, rs, err := ackFields(f)
	if id != 9 || rc != 0x87 || rs != "policy says no" || err != nil {
		t.Fatalf("%d %x %q %v", id, rc, rs, err)
	}
}

func TestPublishAllocations(t *testing.T) {
	m := &Message{Topic: "bench/topic", Payload: []byte("payload"), Props: Properties{
		UserProperties: []UserProperty{{"a", "b"}}, MessageExpiry: ptr(uint32(60)), PayloadFormat: ptr(byte(1)),
		ContentType: "c", ResponseTopic: "r", CorrelationData: []byte("d"),
	}}
	w := bufio.NewWriterSize(discard{}, 4096)
	if n := testing.AllocsPerRun(1000, func() { writePublish(w, m, m.Topic, 0, 1, 7, false) }); n != 0 {
		t.Fatalf("writePublish allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { writeAck(w, 4, 7, 0x10) }); n != 0 {
		t.Fatalf("writeAck allocates %v times", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A large payload is the frame's own buffer (no copy); a small one is
// copied out of the reader's reused buffer.
func TestDecodePublishPayloadBuffer(t *testing.T) {
	for _, n := range []int{10, keepReadBuffer + 1} {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		writePublish(w, &Message{Topic: "big", Payload: bytes.Repeat([]byte("z"), n)}, "big", 0, 1, 1, false)
		w.Flush()
		fr := frameReader{r: bufio.NewReader(&b)}
		f, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		_, payload, err := f.decodePublish(nil)
		if err != nil || len(payload) != n {
			t.Fatalf("%d: %d bytes, %v", n, len(payload), err)
		}
		shared := &payload[len(payload)-1] == &f.body[len(f.body)-1]
		if shared != (n > keepReadBuffer) || f.owned != (n > keepReadBuffer) {
			t.Errorf("payload of %d bytes: shares the frame's buffer %t, owned %t", n, shared, f.owned)
		}
	}
}

func TestFrameOverMaximumPacketSize(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writePublish(w, &Message{Topic: "t", Payload: make([]byte, 1000)}, "t", 0, 0, 0, false)
	w.Flush()
	size := b.Len()
	for _, max := range []int{size, size - 1} {
		fr := frameReader{r: bufio.NewReader(bytes.NewReader(b.Bytes())), max: max}
		_, err := fr.next()
		var tl *packetTooLarge
		if got := errors.As(err, &tl); got != (max < size) {
			t.Errorf("max %d, packet %d: %v", max, size, err)
		}
	}
}

func TestDecodePublishMalformed(t *testing.T) {
	for _, body := range [][]byte{
		{},
		{0},
		{0, 5, 'a'},             // topic longer than the packet
		{0, 1, 'a'},             // QoS 1: no packet ID, no properties
		{0, 1, 'a', 0, 1},       // no property length
		{0, 1, 'a', 0, 1, 9},    // properties longer than the packet
		{0, 1, 'a', 0, 1, 0x80}, // property length cut short
		{0, 1, 'a', 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f},
		{0, 1, 'a', 0, 1, 2, 0x7f, 0}, // unknown property
	} {
		f := frame{b0: packets.PUBLISH<<4 | 1<<1, body: body}
		if _, _, err := f.decodePublish(nil); !errors.Is(err, errMalformed) {
			t.Errorf("% x: %v", body, err)
		}
	}
}
