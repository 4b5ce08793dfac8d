package session

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/eclipse/paho.golang/packets"
)

// The hot path (PUBLISH out, acknowledgements in) is encoded and decoded
// here without allocating; every other packet goes through paho's packets
// package. codec_test.go checks both against packets.

// MQTT 5 property identifiers of a PUBLISH.
const (
	propPayloadFormat   = 0x01
	propMessageExpiry   = 0x02
	propContentType     = 0x03
	propResponseTopic   = 0x08
	propCorrelationData = 0x09
	propSubscriptionID  = 0x0B
	propUserProperty    = 0x26
)

func vbiLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

func writeVBI(w *bufio.Writer, n int) {
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		_ = w.WriteByte(b)
		if n == 0 {
			return
		}
	}
}

func writeStr(w *bufio.Writer, s string) {
	_ = w.WriteByte(byte(len(s) >> 8))
	_ = w.WriteByte(byte(len(s)))
	_, _ = w.WriteString(s)
}

func propsLen(p *Properties) int {
	n := 0
	if p.PayloadFormat != nil {
		n += 2
	}
	if p.MessageExpiry != nil {
		n += 5
	}
	if p.ContentType != "" {
		n += 3 + len(p.ContentType)
	}
	if p.ResponseTopic != "" {
		n += 3 + len(p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		n += 3 + len(p.CorrelationData)
	}
	for _, u := range p.UserProperties {
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n
}

// publishSize is the PUBLISH packet's remaining length and total size
// with its full topic and no topic alias.
func publishSize(m *Message, qos byte) (remaining, total int) {
	return wireSize(m, m.Topic, 0, qos)
}

// wireSize is publishSize as sent with topic ("" once aliased) and alias
// (0: none).
func wireSize(m *Message, topic string, alias uint16, qos byte) (remaining, total int) {
	pl := propsLen(&m.Props)
	if alias != 0 {
		pl += 3
	}
	remaining = 2 + len(topic) + vbiLen(pl) + pl + len(m.Payload)
	if qos > 0 {
		remaining += 2
	}
	return remaining, 1 + vbiLen(remaining) + remaining
}

// writePublish encodes a PUBLISH into w without allocating and returns
// its size. It carries topic, which is m.Topic or "" when alias (0: none)
// stands for it.
func writePublish(w *bufio.Writer, m *Message, topic string, alias uint16, qos byte, id uint16, dup bool) int {
	b0 := byte(packets.PUBLISH<<4) | qos<<1
	if dup {
		b0 |= 0x08
	}
	if m.Retain {
		b0 |= 0x01
	}
	p := &m.Props
	pl := propsLen(p)
	if alias != 0 {
		pl += 3
	}
	remaining, total := wireSize(m, topic, alias, qos)
	_ = w.WriteByte(b0)
	writeVBI(w, remaining)
	writeStr(w, topic)
	if qos > 0 {
		_ = w.WriteByte(byte(id >> 8))
		_ = w.WriteByte(byte(id))
	}
	writeVBI(w, pl)
	if alias != 0 {
		_ = w.WriteByte(propTopicAlias)
		_ = w.WriteByte(byte(alias >> 8))
		_ = w.WriteByte(byte(alias))
	}
	if p.PayloadFormat != nil {
		_ = w.WriteByte(propPayloadFormat)
		_ = w.WriteByte(*p.PayloadFormat)
	}
	if p.MessageExpiry != nil {
		e := *p.MessageExpiry
		_ = w.WriteByte(propMessageExpiry)
		_ = w.WriteByte(byte(e >> 24))
		_ = w.WriteByte(byte(e >> 16))
		_ = w.WriteByte(byte(e >> 8))
		_ = w.WriteByte(byte(e))
	}
	if p.ContentType != "" {
		_ = w.WriteByte(propContentType)
		writeStr(w, p.ContentType)
	}
	if p.ResponseTopic != "" {
		_ = w.WriteByte(propResponseTopic)
		writeStr(w, p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		_ = w.WriteByte(propCorrelationData)
		_ = w.WriteByte(byte(len(p.CorrelationData) >> 8))
		_ = w.WriteByte(byte(len(p.CorrelationData)))
		_, _ = w.Write(p.CorrelationData)
	}
	for _, u := range p.UserProperties {
		_ = w.WriteByte(propUserProperty)
		writeStr(w, u.Key)
		writeStr(w, u.Value)
	}
	_, _ = w.Write(m.Payload)
	return total
}

// writeAck encodes PUBACK, PUBREC, PUBREL or PUBCOMP with a reason code.
func writeAck(w *bufio.Writer, typ byte, id uint16, reason byte) {
	b0 := typ << 4
	if typ == packets.PUBREL {
		b0 |= 0x02
	}
	_ = w.WriteByte(b0)
	if reason == 0 {
		_ = w.WriteByte(2)
	} else {
		_ = w.WriteByte(3)
	}
	_ = w.WriteByte(byte(id >> 8))
	_ = w.WriteByte(byte(id))
	if reason != 0 {
		_ = w.WriteByte(reason)
	}
}

// frame is one packet as read: its first byte and body. body is only valid
// until the next read, unless owned.
type frame struct {
	b0    byte
	body  []byte
	owned bool // body is not reused by the reader: it may be kept
	v311  bool // MQTT 3.1.1 (v311.go): no properties, no reason codes
}

func (f frame) typ() byte { return f.b0 >> 4 }

var errMalformed = errors.New("malformed packet")

// packetTooLarge is a packet over the Maximum Packet Size we advertised.
type packetTooLarge struct{ size, max int }

func (e *packetTooLarge) Error() string {
	return fmt.Sprintf("the broker sent a packet of %d bytes, over the Maximum Packet Size of %d bytes this client advertised (--max-packet-size)", e.size, e.max)
}

// keepReadBuffer is the largest body buffer the reader reuses; a larger
// packet gets a buffer of its own, which its message keeps (no copy).
const keepReadBuffer = 1 << 20

// frameReader reads packets, reusing one body buffer.
type frameReader struct {
	r    *bufio.Reader
	buf  []byte
	max  int  // Maximum Packet Size (whole packet); 0: none
	v311 bool // frames are MQTT 3.1.1
}

func (fr *frameReader) next() (frame, error) {
	b0, err := fr.r.ReadByte()
	if err != nil {
		return frame{}, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return frame{}, errLongLength
		}
		b, err := fr.r.ReadByte()
		if err != nil {
			return frame{}, noEOF(err)
		}
		n += int(b&0x7F) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	if size := 1 + vbiLen(n) + n; fr.max > 0 && size > fr.max {
		return frame{}, &packetTooLarge{size: size, max: fr.max}
	}
	var body []byte
	owned := n > keepReadBuffer
	if owned {
		body = make([]byte, n)
	} else {
		if cap(fr.buf) < n {
			fr.buf = make([]byte, max(n, 512))
		}
		body = fr.buf[:n]
	}
	if _, err := io.ReadFull(fr.r, body); err != nil {
		return frame{}, noEOF(err)
	}
	return frame{b0: b0, body: body, owned: owned, v311: fr.v311}, nil
}

// ready reports whether the buffer holds a whole frame, so that next
// returns without reading the socket.
func (fr *frameReader) ready() bool {
	nb := fr.r.Buffered()
	if nb < 2 {
		return false
	}
	hdr, _ := fr.r.Peek(min(nb, 5))
	n, mult := 0, 1
	for i := 1; i < len(hdr); i++ {
		n += int(hdr[i]&0x7F) * mult
		if hdr[i]&0x80 == 0 {
			return nb >= 1+i+n
		}
		mult *= 128
	}
	return false
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ackFields decodes PUBACK, PUBREC, PUBREL and PUBCOMP: packet ID, reason
// code and, when present, the reason string.
func ackFields(f frame) (id uint16, reason byte, reasonString string, err error) {
	if len(f.body) < 2 {
		return 0, 0, "", violationf(packetName(f.typ()), "%d bytes: too short for a packet identifier", len(f.body))
	}
	id = uint16(f.body[0])<<8 | uint16(f.body[1])
	if f.v311 && len(f.body) != 2 {
		return 0, 0, "", violationf(packetName(f.typ()), "%d bytes: MQTT 3.1.1 has 2 (a packet identifier)", len(f.body))
	}
	if len(f.body) > 2 {
		reason = f.body[2]
	}
	if len(f.body) > 3 {
		cp, err := f.decode()
		if err != nil {
			return 0, 0, "", err
		}
		switch p := cp.Content.(type) {
		case *packets.Puback:
			reasonString = p.Properties.ReasonString
		case *packets.Pubrec:
			reasonString = p.Properties.ReasonString
		case *packets.Pubrel:
			reasonString = p.Properties.ReasonString
		case *packets.Pubcomp:
			reasonString = p.Properties.ReasonString
		}
	}
	return id, reason, reasonString, nil
}

// decode turns a frame into a paho control packet (copying what it keeps).
// PUBLISH goes through decodePublish instead.
func (f frame) decode() (*packets.ControlPacket, error) {
	if f.v311 {
		return f.decode311()
	}
	cp := packets.NewControlPacket(f.typ())
	if cp == nil {
		return nil, violationf("packet", "unknown packet type %d", f.typ())
	}
	cp.Flags = f.b0 & 0x0F
	if p, ok := cp.Content.(*packets.Publish); ok {
		p.QoS = (f.b0 >> 1) & 0x03
		p.Duplicate = f.b0&0x08 != 0
		p.Retain = f.b0&0x01 != 0
	}
	body := f.body
	if f.typ() != packets.PUBLISH {
		// paho keeps slices of its input (SUBACK/UNSUBACK reason codes) and
		// the reader reuses its buffer: these rare packets get their own.
		body = bytes.Clone(body)
	}
	if err := cp.Content.Unpack(bytes.NewBuffer(body)); err != nil {
		return nil, violationf(cp.PacketType(), "malformed: %v", err)
	}
	return cp, nil
}

// decodePublish decodes a PUBLISH: topic, packet ID and properties through
// paho's packets, the payload by hand. paho reads the payload with
// io.ReadAll, which copies it through a growing buffer (several times the
// payload at once for a large message); here a large payload is the
// frame's own buffer, not copied at all, and a small one is copied once
// out of the reused read buffer.
func (f frame) decodePublish(cv *carver) (packets.Publish, []byte, error) {
	p := packets.Publish{
		QoS:       (f.b0 >> 1) & 0x03,
		Duplicate: f.b0&0x08 != 0,
		Retain:    f.b0&0x01 != 0,
	}
	b := f.body
	bad := func(what string) error { return fmt.Errorf("%w: PUBLISH: %s", errMalformed, what) }
	if len(b) < 2 {
		return p, nil, bad("no topic")
	}
	off := 2 + (int(b[0])<<8 | int(b[1]))
	if off > len(b) {
		return p, nil, bad("topic longer than the packet")
	}
	p.Topic = cv.str(b[2:off])
	if p.QoS > 0 {
		if off+2 > len(b) {
			return p, nil, bad("no packet ID")
		}
		p.PacketID = uint16(b[off])<<8 | uint16(b[off+1])
		off += 2
	}
	pl, vl := 0, 0
	for mult := 1; !f.v311; mult *= 128 {
		if off+vl >= len(b) || vl == 4 {
			return p, nil, bad("bad property length")
		}
		c := b[off+vl]
		vl++
		pl += int(c&0x7F) * mult
		if c&0x80 == 0 {
			break
		}
	}
	end := off + vl + pl
	if end > len(b) {
		return p, nil, bad("properties longer than the packet")
	}
	if pl > 0 {
		// Properties.Unpack copies what it keeps (strings, correlation data).
		p.Properties = &packets.Properties{}
		if err := p.Properties.Unpack(bytes.NewBuffer(b[off:end]), packets.PUBLISH); err != nil {
			return p, nil, bad(err.Error())
		}
	}
	payload := b[end:]
	if !f.owned {
		payload = cv.bytes(payload)
	}
	if payload == nil {
		payload = []byte{}
	}
	return p, payload, nil
}

// carver gives inbound messages their memory without an allocation each:
// small payloads are copied into shared 64 KiB slabs, Messages come from
// arrays, and a topic equal to the previous one shares its string. A slab
// or array is freed once no message in it is referenced. Only the
// connection's reader uses it; a nil carver allocates plainly.
type carver struct {
	slab  []byte
	msgs  []Message
	topic string
}

const (
	carveSlab = 64 << 10
	carveMax  = 4 << 10 // larger payloads get their own buffer
	carveMsgs = 64
)

func (cv *carver) bytes(b []byte) []byte {
	if cv == nil || len(b) > carveMax {
		return bytes.Clone(b)
	}
	if cap(cv.slab)-len(cv.slab) < len(b) {
		cv.slab = make([]byte, 0, carveSlab)
	}
	n := len(cv.slab)
	cv.slab = append(cv.slab, b...)
	return cv.slab[n:len(cv.slab):len(cv.slab)] // an append by the holder copies
}

func (cv *carver) str(b []byte) string {
	if cv == nil {
		return string(b)
	}
	if string(b) != cv.topic { // compared without converting
		cv.topic = string(b)
	}
	return cv.topic
}

func (cv *carver) message() *Message {
	if cv == nil {
		return &Message{}
	}
	if len(cv.msgs) == 0 {
		cv.msgs = make([]Message, carveMsgs)
	}
	m := &cv.msgs[0]
	cv.msgs = cv.msgs[1:]
	return m
}

// inbound converts a decoded PUBLISH to a Message.
func inbound(p *packets.Publish, payload []byte, cv *carver) *Message {
	m := cv.message()
	*m = Message{Topic: p.Topic, Payload: payload, QoS: p.QoS, Retain: p.Retain}
	if pr := p.Properties; pr != nil {
		m.Props = Properties{
			ContentType:     pr.ContentType,
			ResponseTopic:   pr.ResponseTopic,
			CorrelationData: pr.CorrelationData,
			MessageExpiry:   pr.MessageExpiry,
			PayloadFormat:   pr.PayloadFormat,
		}
		for _, u := range pr.User {
			m.Props.UserProperties = append(m.Props.UserProperties, UserProperty{Key: u.Key, Value: u.Value})
		}
		if pr.SubscriptionIdentifier != nil {
			m.Props.SubscriptionIDs = []int{*pr.SubscriptionIdentifier}
		}
	}
	if m.Payload == nil {
		m.Payload = []byte{}
	}
	return m
}

// writePacket writes any paho packet into w.
func writePacket(w *bufio.Writer, p io.WriterTo) error {
	_, err := p.WriteTo(w)
	return err
}

// pahoPublish is m as paho's packet, for the unbuffered (paho-style) write
// path and for tests.
func pahoPublish(m *Message, qos byte, id uint16, dup bool) *packets.ControlPacket {
	p := &packets.Publish{Topic: m.Topic, Payload: m.Payload, QoS: qos, PacketID: id, Duplicate: dup, Retain: m.Retain, Properties: &packets.Properties{
		PayloadFormat:   m.Props.PayloadFormat,
		MessageExpiry:   m.Props.MessageExpiry,
		ContentType:     m.Props.ContentType,
		ResponseTopic:   m.Props.ResponseTopic,
		CorrelationData: m.Props.CorrelationData,
	}}
	for _, u := range m.Props.UserProperties {
		p.Properties.User = append(p.Properties.User, packets.User{Key: u.Key, Value: u.Value})
	}
	return p.ToControlPacket()
}

// pahoAck is an acknowledgement as paho's packet.
func pahoAck(typ byte, id uint16, reason byte) *packets.ControlPacket {
	cp := packets.NewControlPacket(typ)
	switch p := cp.Content.(type) {
	case *packets.Puback:
		p.PacketID, p.ReasonCode = id, reason
	case *packets.Pubrec:
		p.PacketID, p.ReasonCode = id, reason
	case *packets.Pubrel:
		p.PacketID, p.ReasonCode = id, reason
	case *packets.Pubcomp:
		p.PacketID, p.ReasonCode = id, reason
	}
	return cp
}
