package broker

import (
	"slices"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// message is one application message as the broker received it. It is
// shared by every delivery and never changed.
type message struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	props   packets.Properties // the PUBLISH properties forwarded
	origin  string             // client ID of the publisher, "" inline
	expiry  time.Time          // zero: never
}

func (m *message) expired(now time.Time) bool {
	return !m.expiry.IsZero() && !now.Before(m.expiry)
}

// delivery is a message on its way to one session.
type delivery struct {
	msg    *message
	qos    byte
	retain bool
	subIDs []int
}

// flight is a QoS 1/2 delivery sent (or to be resent) and not yet complete.
type flight struct {
	d   delivery
	id  uint16
	seq uint64
	rel bool // PUBREC received, PUBREL sent: waiting for PUBCOMP
}

// session is the state of one client ID, kept across its connections.
type session struct {
	id string

	mu     sync.Mutex
	conn   *conn // the connection serving it, nil while offline
	last   *Client
	subs   map[string]subscription
	queue  []delivery // waiting to be sent, oldest first
	head   int
	flight map[uint16]*flight
	seq    uint64
	nextID uint16
	// QoS 2 publishes received (PUBREC sent) and not released: the
	// client's packet IDs, a namespace of their own.
	received map[uint16]struct{}

	expiry      uint32 // session expiry interval, seconds
	expireTimer *time.Timer
	will        *message
	willTimer   *time.Timer
	ended       bool // removed from the server: drop what comes
	dropped     int64
}

func newSession(id string) *session {
	return &session{id: id, subs: map[string]subscription{}, flight: map[uint16]*flight{}, received: map[uint16]struct{}{}}
}

func (s *session) online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

func (s *session) queued() int { return len(s.queue) - s.head }

// push queues a delivery. It reports false when the session's queue is
// full (the delivery is dropped); c is the connection to wake or to
// disconnect.
func (s *session) push(d delivery, limit int) (c *conn, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || (s.conn == nil && d.qos == 0) {
		return nil, true // QoS 0 is not queued for offline sessions
	}
	if limit > 0 && s.queued()+len(s.flight) >= limit {
		s.dropped++
		return s.conn, false
	}
	if s.head > 0 && s.head >= len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	s.queue = append(s.queue, d)
	return s.conn, true
}

// pop takes the next delivery.
func (s *session) pop() (delivery, bool) {
	if s.head == len(s.queue) {
		return delivery{}, false
	}
	d := s.queue[s.head]
	s.queue[s.head] = delivery{}
	s.head++
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	}
	return d, true
}

// newID is a packet ID not in flight; 0 when all are.
func (s *session) newID() uint16 {
	for range 65535 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.flight[s.nextID]; !used {
			return s.nextID
		}
	}
	return 0
}

// inFlightOrdered is the flight in the order it was first sent.
func (s *session) inFlightOrdered() []*flight {
	out := make([]*flight, 0, len(s.flight))
	for _, f := range s.flight {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *flight) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

// clearState drops everything a clean start discards.
func (s *session) clearState() {
	s.queue, s.head = nil, 0
	s.flight = map[uint16]*flight{}
	s.received = map[uint16]struct{}{}
}

// trimFlight fits the flight to a new connection's Receive Maximum: QoS 1
// deliveries past the window that were never acknowledged go back to the
// head of the queue, in order, and get new packet IDs when sent again
// [MQTT-3.3.4-9]. QoS 2 deliveries keep their IDs: the client may hold
// them as received.
func (s *session) trimFlight(window int) {
	if len(s.flight) <= window {
		return
	}
	var back []delivery
	kept := 0
	for _, f := range s.inFlightOrdered() {
		if kept < window || f.rel || f.d.qos == 2 {
			kept++
			continue
		}
		back = append(back, f.d)
		delete(s.flight, f.id)
	}
	if len(back) > 0 {
		s.queue = append(back, s.queue[s.head:]...)
		s.head = 0
	}
}
