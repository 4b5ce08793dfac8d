package session

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
)

// ProtocolError is a packet from the broker that MQTT 5 does not allow: a
// malformed packet or one the client must not receive. Its errs kind is
// Connect: the session drops the connection and, when it reconnects,
// backs off as after any failed connection.
type ProtocolError struct {
	Addr   string // the broker, host:port
	Packet string // PUBLISH, SUBACK, … or "packet" when the type is unknown
	Why    string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("connection to %s: protocol violation by the broker: %s: %s", e.Addr, e.Packet, esc.String(e.Why))
}

// As makes errs.KindOf see a ProtocolError as kind Connect.
func (e *ProtocolError) As(target any) bool {
	if t, ok := target.(**errs.Error); ok {
		*t = &errs.Error{Kind: errs.Connect, Err: e}
		return true
	}
	return false
}

// violation is a protocol violation found while decoding, before the
// broker's address is known to the decoder.
type violation struct{ packet, why string }

func (v *violation) Error() string { return v.packet + ": " + v.why }

func violationf(packet, format string, a ...any) error {
	return &violation{packet: packet, why: fmt.Sprintf(format, a...)}
}

// errLongLength is a Remaining Length of more than 4 bytes.
var errLongLength = &violation{packet: "packet", why: "malformed Remaining Length (more than 4 bytes)"}

// checkFlags checks the fixed header's flag bits: MQTT 5 2.1.3 fixes them
// for every packet but PUBLISH.
func checkFlags(f frame) error {
	t, flags := f.typ(), f.b0&0x0F
	switch t {
	case 0:
		return violationf("packet", "reserved packet type 0")
	case packets.CONNECT, packets.SUBSCRIBE, packets.UNSUBSCRIBE, packets.PINGREQ:
		return violationf(packetName(t), "a broker must not send this packet")
	case packets.DISCONNECT, packets.AUTH:
		if f.v311 {
			return violationf(packetName(t), "a broker must not send this packet (MQTT 3.1.1)")
		}
	case packets.PUBLISH:
		if flags&0x06 == 0x06 {
			return violationf("PUBLISH", "QoS 3 (both QoS bits set)")
		}
		return nil
	case packets.PUBREL:
		if flags != 0x02 {
			return violationf("PUBREL", "fixed header flags 0x%X, must be 0x2", flags)
		}
		return nil
	}
	if flags != 0 {
		return violationf(packetName(t), "fixed header flags 0x%X, must be 0", flags)
	}
	return nil
}

// checkPublish walks an inbound PUBLISH as MQTT 5 3.3 lays it out: paho's
// decoder reads properties past their declared length and accepts QoS 3,
// so a hostile or broken broker could make it invent an empty message.
func checkPublish(f frame) error {
	b := f.body
	qos := (f.b0 >> 1) & 0x03
	if len(b) < 2 {
		return violationf("PUBLISH", "%d bytes: too short for the topic length", len(b))
	}
	tl := int(b[0])<<8 | int(b[1])
	b = b[2:]
	if tl > len(b) {
		return violationf("PUBLISH", "topic length %d exceeds the %d bytes left in the packet", tl, len(b))
	}
	topic := b[:tl]
	b = b[tl:]
	switch {
	case tl == 0:
		return violationf("PUBLISH", "empty topic (iotctl allows no topic aliases)")
	case !utf8.Valid(topic):
		return violationf("PUBLISH", "topic is not valid UTF-8")
	case containsZero(topic):
		return violationf("PUBLISH", "topic contains U+0000")
	}
	if qos > 0 {
		if len(b) < 2 {
			return violationf("PUBLISH", "QoS %d without a packet identifier", qos)
		}
		if b[0] == 0 && b[1] == 0 {
			return violationf("PUBLISH", "QoS %d with packet identifier 0", qos)
		}
		b = b[2:]
	}
	if f.v311 {
		return nil // no properties
	}
	pl, n, err := readVBI(b)
	if err != nil {
		return violationf("PUBLISH", "property length: %v", err)
	}
	b = b[n:]
	if pl > len(b) {
		return violationf("PUBLISH", "property length %d exceeds the %d bytes left in the packet", pl, len(b))
	}
	return checkProps("PUBLISH", b[:pl])
}

// checkProps walks a PUBLISH property block: every identifier must be a
// PUBLISH property, only user properties and subscription identifiers may
// repeat, and every value must end inside the block. A Topic Alias is a
// violation: CONNECT sets no Topic Alias Maximum, which means 0 (MQTT 5
// 3.1.2.11.5).
func checkProps(packet string, p []byte) error {
	var seen [256]bool
	for len(p) > 0 {
		id := p[0]
		p = p[1:]
		if seen[id] && id != propUserProperty && id != propSubscriptionID {
			return violationf(packet, "property 0x%02X more than once", id)
		}
		seen[id] = true
		var err error
		switch id {
		case propPayloadFormat:
			p, err = skip(p, 1)
		case propMessageExpiry:
			p, err = skip(p, 4)
		case 0x23: // topic alias
			if len(p) < 2 {
				return violationf(packet, "property 0x23: %v", errPastEnd)
			}
			return violationf(packet, "Topic Alias %d from the broker, which iotctl allows none (Topic Alias Maximum 0)", int(p[0])<<8|int(p[1]))
		case propContentType, propResponseTopic:
			p, err = skipString(p, true)
		case propCorrelationData:
			p, err = skipString(p, false)
		case propUserProperty:
			if p, err = skipString(p, true); err == nil {
				p, err = skipString(p, true)
			}
		case propSubscriptionID:
			var v, n int
			if v, n, err = readVBI(p); err == nil {
				if v == 0 {
					return violationf(packet, "Subscription Identifier 0 (MQTT 5 3.3.2.3.8 allows 1 to 268,435,455)")
				}
				p = p[n:]
			}
		default:
			return violationf(packet, "property identifier 0x%02X is not a %s property", id, packet)
		}
		if err != nil {
			return violationf(packet, "property 0x%02X: %v", id, err)
		}
	}
	return nil
}

var errPastEnd = errors.New("runs past the end of the properties")

func skip(p []byte, n int) ([]byte, error) {
	if len(p) < n {
		return nil, errPastEnd
	}
	return p[n:], nil
}

func skipString(p []byte, text bool) ([]byte, error) {
	if len(p) < 2 {
		return nil, errPastEnd
	}
	n := int(p[0])<<8 | int(p[1])
	if len(p)-2 < n {
		return nil, fmt.Errorf("length %d %w", n, errPastEnd)
	}
	s := p[2 : 2+n]
	if text && !utf8.Valid(s) {
		return nil, errors.New("string is not valid UTF-8")
	}
	if text && containsZero(s) {
		return nil, errors.New("string contains U+0000")
	}
	return p[2+n:], nil
}

// readVBI reads a Variable Byte Integer from the start of b.
func readVBI(b []byte) (v, n int, err error) {
	mult := 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, errors.New("missing or cut short")
		}
		v += int(b[i]&0x7F) * mult
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
		mult *= 128
	}
	return 0, 0, errors.New("more than 4 bytes")
}

func containsZero(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}

// v311Return maps MQTT 3.1.1 CONNACK return codes to MQTT 5 reason codes.
var v311Return = map[byte]byte{1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}

// v311Connack recognises the answer of an MQTT 3.1.1-only broker to an
// MQTT 5 CONNECT: a CONNACK of 2 bytes (an MQTT 5 CONNACK has at least 3:
// flags, reason code, property length), return code 1 (unacceptable
// protocol version) from NATS, mosquitto with protocol restrictions and
// the like. Instead of "malformed CONNACK" it says what to do.
func v311Connack(f frame, addr string) error {
	if f.typ() != packets.CONNACK || len(f.body) != 2 || f.body[1] == 0 {
		return nil
	}
	code, ok := v311Return[f.body[1]]
	if !ok {
		code = 0x84
	}
	return &ReasonError{Op: "connect", Code: code, Topic: addr,
		ReasonString: fmt.Sprintf("the broker answered with an MQTT 3.1.1 CONNACK (return code %d)", f.body[1])}
}
