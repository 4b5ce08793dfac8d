package session

// outMsg is one unacknowledged QoS>=1 message. The store keeps them in
// publish order in an intrusive list: sent messages always form a prefix,
// the not-yet-sent ones (beyond a shrunken window after a reconnect) the rest.
type outMsg struct {
	m        *Message
	done     func(error)
	id       uint16
	qos      byte
	released bool // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
	sent     bool // sent on the current connection
	everSent bool // sent on some connection of this session (DUP on resend)
	// strikes: connections in a row the broker ended while this message
	// was in flight (see Options.DropAfter).
	strikes int

	prev, next *outMsg
}

type store struct {
	head, tail *outMsg
	unsent     *outMsg // first message not sent on the current connection
	n          int     // messages in the store
	sent       int     // messages sent on the current connection
	free       *outMsg // recycled entries
}

func (st *store) get() *outMsg {
	if m := st.free; m != nil {
		st.free = m.next
		m.next = nil
		return m
	}
	return &outMsg{}
}

func (st *store) put(m *outMsg) {
	*m = outMsg{next: st.free}
	st.free = m
}

func (st *store) push(m *outMsg) {
	m.prev, m.next = st.tail, nil
	if st.tail != nil {
		st.tail.next = m
	} else {
		st.head = m
	}
	st.tail = m
	st.n++
	if !m.sent && st.unsent == nil {
		st.unsent = m
	}
	if m.sent {
		st.sent++
	}
}

func (st *store) remove(m *outMsg) {
	if st.unsent == m {
		st.unsent = m.next
	}
	if m.prev != nil {
		m.prev.next = m.next
	} else {
		st.head = m.next
	}
	if m.next != nil {
		m.next.prev = m.prev
	} else {
		st.tail = m.prev
	}
	m.prev, m.next = nil, nil
	st.n--
	if m.sent {
		st.sent--
	}
}

// unsendAll marks every message as not sent on the (new) connection.
func (st *store) unsendAll() {
	for m := st.head; m != nil; m = m.next {
		m.sent = false
	}
	st.unsent = st.head
	st.sent = 0
}

// markSent marks the first unsent message as sent and returns it.
func (st *store) markSent() *outMsg {
	m := st.unsent
	if m == nil {
		return nil
	}
	m.sent = true
	m.everSent = true
	st.unsent = m.next
	st.sent++
	return m
}
