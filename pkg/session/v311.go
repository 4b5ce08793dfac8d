package session

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session/limits"
	mochi "github.com/mochi-mqtt/server/v2/packets"
)

// MQTT 3.1.1 (protocol level 4). The engine is the same; only the wire
// form differs: no properties anywhere, no reason codes in the
// acknowledgements of PUBLISH, SUBACK return codes 0x00-0x02 and 0x80,
// UNSUBACK without codes, CONNACK return codes 1-5, no DISCONNECT from
// the broker. The engine keeps paho's MQTT 5 packet structs inside; at
// the wire, the rare packets (CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT
// out; CONNACK, SUBACK, UNSUBACK in) go through mochi's packets, which
// encodes and decodes both versions, and the hot path (PUBLISH out, the
// acknowledgements in and out) is codec.go's, less the properties.

// Version311 and Version5 are the settings' spellings of the versions.
const (
	Version311 = "3.1.1"
	Version5   = "5"
)

// publishSize311 is a 3.1.1 PUBLISH's remaining length and total size.
func publishSize311(m *Message, qos byte) (remaining, total int) {
	remaining = 2 + len(m.Topic) + len(m.Payload)
	if qos > 0 {
		remaining += 2
	}
	return remaining, 1 + vbiLen(remaining) + remaining
}

// writePublish311 encodes a 3.1.1 PUBLISH into w without allocating and
// returns its size. m's properties are not sent (the session refuses
// messages that have some).
func writePublish311(w *bufio.Writer, m *Message, qos byte, id uint16, dup bool) int {
	b0 := byte(packets.PUBLISH<<4) | qos<<1
	if dup {
		b0 |= 0x08
	}
	if m.Retain {
		b0 |= 0x01
	}
	remaining, total := publishSize311(m, qos)
	_ = w.WriteByte(b0)
	writeVBI(w, remaining)
	writeStr(w, m.Topic)
	if qos > 0 {
		_ = w.WriteByte(byte(id >> 8))
		_ = w.WriteByte(byte(id))
	}
	_, _ = w.Write(m.Payload)
	return total
}

// writer311 encodes CONNECT, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT, held
// as paho's MQTT 5 packets, in their 3.1.1 form through mochi's packets.
type writer311 struct{ cp *packets.ControlPacket }

func (w writer311) WriteTo(out io.Writer) (int64, error) {
	pk := mochi.Packet{ProtocolVersion: 4, FixedHeader: mochi.FixedHeader{Type: w.cp.Type}}
	var buf bytes.Buffer
	var err error
	switch p := w.cp.Content.(type) {
	case *packets.Connect:
		pk.Connect = mochi.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			ClientIdentifier: p.ClientID,
			Keepalive:        p.KeepAlive,
			Clean:            p.CleanStart,
			UsernameFlag:     p.UsernameFlag,
			Username:         []byte(p.Username),
			PasswordFlag:     p.PasswordFlag,
			Password:         p.Password,
			WillFlag:         p.WillFlag,
			WillTopic:        p.WillTopic,
			WillPayload:      p.WillMessage,
			WillQos:          p.WillQOS,
			WillRetain:       p.WillRetain,
		}
		err = pk.ConnectEncode(&buf)
	case *packets.Subscribe:
		pk.FixedHeader.Qos = 1
		pk.PacketID = p.PacketID
		for _, s := range p.Subscriptions {
			pk.Filters = append(pk.Filters, mochi.Subscription{Filter: s.Topic, Qos: s.QoS})
		}
		err = pk.SubscribeEncode(&buf)
	case *packets.Unsubscribe:
		pk.FixedHeader.Qos = 1
		pk.PacketID = p.PacketID
		for _, t := range p.Topics {
			pk.Filters = append(pk.Filters, mochi.Subscription{Filter: t})
		}
		err = pk.UnsubscribeEncode(&buf)
	case *packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		return 0, fmt.Errorf("MQTT 3.1.1: cannot encode %s", w.cp.PacketType())
	}
	if err != nil {
		return 0, fmt.Errorf("MQTT 3.1.1 %s: %w", w.cp.PacketType(), err)
	}
	n, err := out.Write(buf.Bytes())
	return int64(n), err
}

// connackCodes311 are the CONNACK return codes of MQTT 3.1.1 (3.2.2.3) as
// the MQTT 5 reason codes of the same meaning.
var connackCodes311 = map[byte]byte{
	1: 0x84, // unacceptable protocol version
	2: 0x85, // identifier rejected
	3: 0x88, // server unavailable
	4: 0x86, // bad user name or password
	5: 0x87, // not authorized
}

// returnCode311 is the CONNACK return code of an MQTT 5 reason code (0: none).
func returnCode311(code byte) byte {
	for rc, c := range connackCodes311 {
		if c == code {
			return rc
		}
	}
	return 0
}

// decode311 decodes a CONNACK, SUBACK or UNSUBACK in its 3.1.1 form into
// paho's MQTT 5 struct: a CONNACK's return code becomes its MQTT 5 reason
// code (ReasonError names the return code), SUBACK return codes are MQTT 5 reason codes already, and an
// UNSUBACK, which has none, gets success for every filter (the engine
// looks at none).
func (f frame) decode311() (*packets.ControlPacket, error) {
	t := f.typ()
	pk := mochi.Packet{ProtocolVersion: 4, FixedHeader: mochi.FixedHeader{Type: t, Remaining: len(f.body)}}
	cp := packets.NewControlPacket(t)
	switch t {
	case packets.CONNACK:
		if len(f.body) != 2 {
			return nil, violationf("CONNACK", "%d bytes: MQTT 3.1.1 has 2", len(f.body))
		}
		if err := pk.ConnackDecode(f.body); err != nil {
			return nil, violationf("CONNACK", "malformed: %v", err)
		}
		if f.body[0]&^1 != 0 {
			return nil, violationf("CONNACK", "acknowledge flags 0x%02X: only bit 0 (session present) may be set", f.body[0])
		}
		ca := cp.Content.(*packets.Connack)
		ca.SessionPresent = pk.SessionPresent
		ca.Properties = &packets.Properties{}
		if pk.ReasonCode != 0 {
			code, ok := connackCodes311[pk.ReasonCode]
			if !ok {
				return nil, violationf("CONNACK", "return code %d: MQTT 3.1.1 has 0-5", pk.ReasonCode)
			}
			ca.ReasonCode = code
		}
	case packets.SUBACK:
		if err := pk.SubackDecode(f.body); err != nil {
			return nil, violationf("SUBACK", "malformed: %v", err)
		}
		sa := cp.Content.(*packets.Suback)
		sa.PacketID = pk.PacketID
		sa.Properties = &packets.Properties{}
		for _, c := range pk.ReasonCodes {
			if c > 2 && c != 0x80 {
				return nil, violationf("SUBACK", "return code 0x%02X: MQTT 3.1.1 has 0x00-0x02 and 0x80", c)
			}
		}
		sa.Reasons = bytes.Clone(pk.ReasonCodes)
	case packets.UNSUBACK:
		if len(f.body) != 2 {
			return nil, violationf("UNSUBACK", "%d bytes: MQTT 3.1.1 has 2", len(f.body))
		}
		if err := pk.UnsubackDecode(f.body); err != nil {
			return nil, violationf("UNSUBACK", "malformed: %v", err)
		}
		ua := cp.Content.(*packets.Unsuback)
		ua.PacketID = pk.PacketID
		ua.Properties = &packets.Properties{}
	default:
		return nil, violationf(packetName(t), "not a packet an MQTT 3.1.1 broker sends here")
	}
	return cp, nil
}

// IsV311 reports whether the settings ask for MQTT 3.1.1.
func IsV311(st *profile.Settings) bool { return st.MQTTVersion == Version311 }

// MQTT5Only is the usage error for a setting MQTT 3.1.1 does not have.
func MQTT5Only(flag string) error {
	return errs.Usagef("%s: MQTT 5 only, and --mqtt-version is 3.1.1: leave it out or use --mqtt-version 5", flag)
}

// Check311 refuses, under MQTT 3.1.1, the connection settings that only
// MQTT 5 has: they would otherwise be dropped without a word.
// --clean-start is 3.1.1's Clean Session; a session kept with
// --clean-start=false lasts until a clean connect (3.1.1 has no expiry).
func Check311(st *profile.Settings) error {
	if !IsV311(st) {
		return nil
	}
	switch {
	case st.SessionExpiry > 0:
		return errs.Usagef("--session-expiry: MQTT 5 only, and --mqtt-version is 3.1.1: leave it out (--clean-start=false keeps a 3.1.1 session, until a clean connect) or use --mqtt-version 5")
	case st.ReceiveMaximum > 0:
		return errs.Usagef("--receive-maximum: MQTT 5 only, and --mqtt-version is 3.1.1: leave it out (--inflight caps what iotctl sends) or use --mqtt-version 5")
	case st.MaxPacketSize > 0:
		return MQTT5Only("--max-packet-size")
	case len(st.ConnectProperties) > 0:
		return MQTT5Only("--connect-property")
	case st.RequestRespInfo:
		return MQTT5Only("--request-response-info")
	case st.WillDelay > 0:
		return MQTT5Only("--will-delay")
	case st.WillExpiry > 0:
		return MQTT5Only("--will-expiry")
	case st.WillContentType != "":
		return MQTT5Only("--will-content-type")
	case len(st.WillProperties) > 0:
		return MQTT5Only("--will-property")
	}
	return nil
}

// check311 refuses what a 3.1.1 PUBLISH cannot carry.
func check311(m *Message) error {
	p := &m.Props
	switch {
	case len(p.UserProperties) > 0:
		return MQTT5Only("--user-property")
	case p.ContentType != "":
		return MQTT5Only("--content-type")
	case p.ResponseTopic != "":
		return MQTT5Only("--response-topic")
	case len(p.CorrelationData) > 0:
		return MQTT5Only("--correlation-data")
	case p.MessageExpiry != nil:
		return MQTT5Only("--message-expiry")
	case p.PayloadFormat != nil:
		return MQTT5Only("--payload-format")
	}
	return nil
}

// checkSub311 refuses the subscription options only MQTT 5 has.
func checkSub311(sub Subscription) error {
	switch {
	case sub.NoLocal:
		return MQTT5Only("--no-local")
	case sub.RetainAsPublished:
		return MQTT5Only("--retain-as-published")
	case sub.RetainHandling != 0:
		return MQTT5Only("--retain-handling")
	case sub.ID != 0:
		return MQTT5Only("--subscription-id")
	}
	return nil
}

// InflightQoS2311 is the window of pub and bench for QoS 2 under MQTT 3.1.1
// when --inflight is not set: mosquitto's default max_inflight_messages. A
// 3.1.1 broker cannot refuse a QoS 2 message over its quota (no reason
// codes): mosquitto 2.0 answers a plain PUBREC and drops it.
const InflightQoS2311 = 20

// defaultInflight311 is the window under MQTT 3.1.1, whose brokers say
// nothing of how many messages they take in flight.
func defaultInflight311(r limits.Rules) int {
	if r.Name == limits.AWSIoT.Name {
		return 100
	}
	return 1000
}

// Flag is a command's flag and whether it was given, for Refuse311.
type Flag struct {
	Name string
	Set  bool
}

// Refuse311 is MQTT5Only for the first given flag when st asks for MQTT
// 3.1.1: commands check their own MQTT 5 flags with it before connecting.
func Refuse311(st *profile.Settings, flags ...Flag) error {
	if !IsV311(st) {
		return nil
	}
	for _, f := range flags {
		if f.Set {
			return MQTT5Only(f.Name)
		}
	}
	return nil
}
