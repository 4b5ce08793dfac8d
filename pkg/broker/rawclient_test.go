package broker

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// raw is a hand-driven MQTT client for attack tests: it sends exactly the
// bytes a test gives and reads packets one by one.
type raw struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	v  byte
}

func dialRaw(t testing.TB, b *Broker) *raw {
	t.Helper()
	_, addr, _ := strings.Cut(b.URL(MQTT), "://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc), v: 5}
}

func newRaw(t testing.TB, nc net.Conn) *raw {
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc), v: 5}
}

// encode encodes a packet as a client sends it.
func encodePacket(pk packets.Packet) []byte {
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		panic("encodePacket: type")
	}
	if err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func connectPacket(id string, v byte, clean bool) packets.Packet {
	name := []byte("MQTT")
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: v,
		Connect: packets.ConnectParams{ProtocolName: name, ClientIdentifier: id, Clean: clean}}
}

func (r *raw) write(b []byte) error {
	_ = r.nc.SetWriteDeadline(time.Now().Add(wait))
	_, err := r.nc.Write(b)
	return err
}

func (r *raw) send(pk packets.Packet) {
	r.t.Helper()
	pk.ProtocolVersion = r.v
	if err := r.write(encodePacket(pk)); err != nil {
		r.t.Fatalf("send %s: %v", packets.PacketNames[pk.FixedHeader.Type], err)
	}
}

// connect sends CONNECT and returns the CONNACK.
func (r *raw) connect(pk packets.Packet) packets.Packet {
	r.t.Helper()
	r.v = pk.ProtocolVersion
	r.send(pk)
	ack, err := r.read()
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		r.t.Fatalf("CONNACK: %v %v", packets.PacketNames[ack.FixedHeader.Type], err)
	}
	return ack
}

// read reads one packet sent by the broker.
func (r *raw) read() (packets.Packet, error) { return r.readWithin(wait) }

// readWithin reads one packet that must start arriving within d.
func (r *raw) readWithin(d time.Duration) (packets.Packet, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(d))
	var pk packets.Packet
	b, err := r.br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r.br)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = r.v
	pk.FixedHeader.Remaining = n
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Pingresp:
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	default:
		err = errors.New("unexpected packet from broker")
	}
	return pk, err
}

// expect reads the next packet and fails unless it has type typ.
func (r *raw) expect(typ byte) packets.Packet {
	r.t.Helper()
	pk, err := r.read()
	if err != nil {
		r.t.Fatalf("want %s: %v", packets.PacketNames[typ], err)
	}
	if pk.FixedHeader.Type != typ {
		r.t.Fatalf("want %s, got %s (reason %#x)", packets.PacketNames[typ], packets.PacketNames[pk.FixedHeader.Type], pk.ReasonCode)
	}
	return pk
}

// closed reads until the broker closes the connection and returns the
// DISCONNECT it sent before, if any.
func (r *raw) closed() (*packets.Packet, error) {
	var disc *packets.Packet
	for {
		pk, err := r.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return disc, errors.New("connection still open")
			}
			return disc, nil
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			disc = &pk
		}
	}
}

func (r *raw) subscribe(id uint16, filters ...packets.Subscription) packets.Packet {
	r.t.Helper()
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, Filters: filters})
	return r.expect(packets.Suback)
}

func (r *raw) publish(topic, payload string, qos byte, id uint16) {
	r.t.Helper()
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: []byte(payload), PacketID: id})
}

func cutURL(url string) (string, string, bool) { return strings.Cut(url, "://") }
