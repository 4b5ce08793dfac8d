package session

import (
	"bufio"
	"bytes"
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
				writePublish(w, m, qos, 513, dup)
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
				cp, err := f.decode()
				if err != nil {
					t.Fatal(err)
				}
				back := inbound(cp.Content.(*packets.Publish))
				back.Props.SubscriptionIDs = nil
				if !reflect.DeepEqual(back.Props, m.Props) || back.Topic != m.Topic || !bytes.Equal(back.Payload, m.Payload) || back.Retain != m.Retain {
					t.Fatalf("round trip %+v", back)
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
	if n := testing.AllocsPerRun(1000, func() { writePublish(w, m, 1, 7, false) }); n != 0 {
		t.Fatalf("writePublish allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { writeAck(w, 4, 7, 0x10) }); n != 0 {
		t.Fatalf("writeAck allocates %v times", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
