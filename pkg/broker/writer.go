package broker

import (
	"bytes"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// batchBytes is roughly how much the writer encodes before one write.
const batchBytes = 64 << 10

// outgoing is one PUBLISH or PUBREL the writer sends from the session.
type outgoing struct {
	d   delivery
	id  uint16
	dup bool
	rel bool
}

// writer sends control packets first, then the session's resent flight,
// then queued deliveries as far as the client's Receive Maximum allows,
// many packets per write. It exits when the connection stops.
func (c *conn) writer() {
	defer close(c.writerDone)
	var buf bytes.Buffer
	var out []outgoing
	for {
		select {
		case <-c.wake:
		case <-c.stopped:
			return
		}
		for {
			c.mu.Lock()
			ctrl, final, closing := c.ctrl, c.final, c.closing
			c.ctrl = nil
			resend := c.resend
			c.resend = false
			c.mu.Unlock()
			if closing && final == nil {
				return
			}
			buf.Reset()
			for i := range ctrl {
				c.encode(&buf, &ctrl[i])
			}
			more := false
			if final == nil {
				out, more = c.fill(out[:0], resend)
				now := time.Now()
				for _, o := range out {
					c.encodeOutgoing(&buf, o, now)
				}
			} else {
				c.encode(&buf, final)
			}
			if buf.Len() > 0 {
				c.mu.Lock()
				if c.final == nil {
					_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.caps.WriteTimeout))
				}
				c.mu.Unlock()
				if _, err := c.nc.Write(buf.Bytes()); err != nil {
					c.stop(err)
					return
				}
			}
			if final != nil {
				c.stop(packets.Code{Code: final.ReasonCode, Reason: final.Properties.ReasonString})
				return
			}
			if buf.Cap() > 4*batchBytes {
				buf = bytes.Buffer{} // do not keep a large message's buffer
			}
			if !more {
				break
			}
		}
	}
}

// fill takes what to send from the session: the flight to resend after a
// resumed session, then queued deliveries within the client's window.
// more is true when it stopped at the batch size with work left.
func (c *conn) fill(out []outgoing, resend bool) ([]outgoing, bool) {
	ss := c.sess
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if resend {
		for _, f := range ss.inFlightOrdered() {
			out = append(out, outgoing{d: f.d, id: f.id, dup: true, rel: f.rel})
		}
	}
	size := 0
	for size < batchBytes {
		if ss.head == len(ss.queue) {
			return out, false
		}
		if ss.queue[ss.head].qos > 0 && len(ss.flight) >= c.recvMax {
			return out, false // the window is full: PUBACKs wake us
		}
		d, _ := ss.pop()
		if d.msg.expired(now) {
			continue
		}
		o := outgoing{d: d}
		if d.qos > 0 {
			o.id = ss.newID()
			if o.id == 0 {
				ss.queue = append([]delivery{d}, ss.queue[ss.head:]...) // cannot happen below 65535 in flight
				ss.head = 0
				return out, false
			}
			ss.seq++
			ss.flight[o.id] = &flight{d: d, id: o.id, seq: ss.seq}
		}
		out = append(out, o)
		size += len(d.msg.payload) + len(d.msg.topic) + 16
	}
	return out, ss.head < len(ss.queue)
}

// encode appends a control packet.
func (c *conn) encode(buf *bytes.Buffer, pk *packets.Packet) {
	pk.ProtocolVersion = c.version
	if !c.problem {
		pk.Mods.DisallowProblemInfo = true
	}
	pk.Mods.MaxSize = c.maxOut
	if c.version < 5 {
		pk.Properties = packets.Properties{}
		pk.ReasonCode = 0
	}
	var err error
	switch pk.FixedHeader.Type {
	case packets.Puback:
		err = pk.PubackEncode(buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(buf)
	case packets.Suback:
		err = pk.SubackEncode(buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(buf)
	}
	if err != nil {
		c.srv.log.Warn("encode failed", "client", c.cl.ID, "packet", packets.PacketNames[pk.FixedHeader.Type], "error", err)
	}
}

// encodeOutgoing appends a PUBLISH or PUBREL. A PUBLISH larger than the
// client's Maximum Packet Size is dropped [MQTT-3.1.2-25].
func (c *conn) encodeOutgoing(buf *bytes.Buffer, o outgoing, now time.Time) {
	if o.rel {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: o.id}
		c.encode(buf, &pk)
		return
	}
	m := o.d.msg
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: o.d.qos, Retain: o.d.retain, Dup: o.dup},
		TopicName:       m.topic,
		Payload:         m.payload,
		PacketID:        o.id,
		ProtocolVersion: c.version,
		Mods:            packets.Mods{AllowResponseInfo: true},
	}
	if c.version == 5 {
		pk.Properties = m.props
		pk.Properties.SubscriptionIdentifier = o.d.subIDs
		if !m.expiry.IsZero() {
			left := m.expiry.Sub(now)
			pk.Properties.MessageExpiryInterval = uint32(max(1, (left+time.Second-1)/time.Second))
		}
	}
	start := buf.Len()
	if err := pk.PublishEncode(buf); err != nil {
		c.srv.log.Warn("encode failed", "client", c.cl.ID, "topic", m.topic, "error", err)
		buf.Truncate(start)
		return
	}
	if c.maxOut > 0 && uint32(buf.Len()-start) > c.maxOut {
		buf.Truncate(start)
		if o.id != 0 {
			c.sess.mu.Lock()
			delete(c.sess.flight, o.id)
			c.sess.mu.Unlock()
		}
	}
}
