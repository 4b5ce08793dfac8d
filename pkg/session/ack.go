package session

import (
	"errors"

	"github.com/eclipse/paho.golang/packets"
)

// DeferAck, returned by a Handler, leaves the message unacknowledged when
// the handler returns: the handler keeps m.Ack() and passes it to
// Session.Ack once the message has really been handled (written to its
// output, say). Acknowledging a batch after one write is how a consumer
// stays fast without acknowledging what it could still lose.
var DeferAck = errors.New("session: acknowledgement deferred")

// Ack is the acknowledgement a received message is owed: a PUBACK (QoS 1)
// or PUBREC (QoS 2) on the connection the message came on. The zero Ack,
// a QoS 0 message's, acknowledges nothing. When that connection is gone
// the acknowledgement is dropped and the broker delivers the message again
// (a duplicate, never a loss).
type Ack struct {
	c   *conn
	id  uint16
	typ byte // PUBACK, PUBREC or 0
}

// Ack returns the acknowledgement an inbound message is owed.
func (m *Message) Ack() Ack { return m.ack }

// qos2State is a QoS 2 message received and not yet released (PUBREL).
type qos2State struct {
	c     *conn // the connection it arrived on
	acked bool  // PUBREC sent: a redelivery is acknowledged, not handled again
	dup   *conn // a redelivery arrived on this (newer) connection before the PUBREC
}

// Ack sends the acknowledgements of messages a Handler deferred with
// DeferAck, in order. It does not block on the network.
func (s *Session) Ack(acks ...Ack) {
	for len(acks) > 0 {
		// A run of PUBACKs for one connection is one hand-over to its
		// writer, not one per message.
		a, n := acks[0], 1
		if a.typ == packets.PUBACK && a.c != nil {
			for n < len(acks) && acks[n].typ == packets.PUBACK && acks[n].c == a.c {
				n++
			}
		}
		if n == 1 {
			s.sendAck(a)
		} else {
			ids := make([]uint16, n)
			for i, b := range acks[:n] {
				ids[i] = b.id
			}
			_ = a.c.enqueue(s.ctx, wItem{typ: packets.PUBACK, ids: ids})
		}
		acks = acks[n:]
	}
}

func (s *Session) sendAck(a Ack) {
	if a.typ == 0 || a.c == nil {
		return
	}
	var dup *conn
	if a.typ == packets.PUBREC {
		s.mu.Lock()
		// The state may belong to a newer message with the same packet ID
		// (the broker lost the session meanwhile): only the message's own
		// connection may mark it acknowledged.
		if st, ok := s.qos2In[a.id]; ok && st.c == a.c {
			dup = st.dup
			s.qos2In[a.id] = qos2State{c: a.c, acked: true}
		}
		s.mu.Unlock()
	}
	_ = a.c.enqueue(s.ctx, wItem{typ: a.typ, id: a.id})
	if dup != nil && dup != a.c {
		// Redelivered on a new connection while the handler still held the
		// first copy: that copy's acknowledgement answers both.
		_ = dup.enqueue(s.ctx, wItem{typ: a.typ, id: a.id})
	}
}
