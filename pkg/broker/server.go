package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Capabilities are the limits the broker enforces and advertises. The zero
// value of a field means its default (DefaultCapabilities).
type Capabilities struct {
	// MaximumQoS of deliveries and accepted publishes (default 2).
	MaximumQoS byte
	// MaximumQoSSet marks MaximumQoS as given (0 is a valid maximum).
	MaximumQoSSet bool
	// ReceiveMaximum is how many QoS 1/2 publishes a client may have
	// unacknowledged towards the broker (default 1024).
	ReceiveMaximum uint16
	// TopicAliasMaximum accepted from clients (default 65535).
	TopicAliasMaximum uint16
	// MaximumPacketSize of any packet after authentication (default
	// 256 MiB, MQTT's largest).
	MaximumPacketSize uint32
	// MaximumConnectSize bounds the CONNECT packet, read before the client
	// is authenticated (default 1 MiB).
	MaximumConnectSize uint32
	// MaximumSessionExpiry caps the session expiry interval, seconds
	// (default: no cap; an MQTT 3.1.1 persistent session never expires).
	MaximumSessionExpiry uint32
	// MaximumMessageExpiry caps a message's expiry interval, seconds
	// (default: no cap).
	MaximumMessageExpiry uint32
	// MaxQueuedMessages bounds one session's queued and in-flight
	// messages (default 1,000,000). Past it, a QoS 0 delivery is dropped;
	// a QoS 1/2 delivery is dropped and the client, when connected, is
	// disconnected with 0x97 (quota exceeded): a slow or dead client costs
	// only itself.
	MaxQueuedMessages int
	// WriteTimeout bounds one write to a client (default 30 s): a client
	// that stops reading is disconnected, never waited for.
	WriteTimeout time.Duration
	// No… turn features off (advertised in CONNACK).
	NoRetain, NoWildcards, NoSubscriptionIDs, NoShared bool
}

// DefaultCapabilities are the embedded broker's limits.
func DefaultCapabilities() Capabilities {
	return Capabilities{
		MaximumQoS: 2, MaximumQoSSet: true, ReceiveMaximum: 1024, TopicAliasMaximum: 65535,
		MaximumPacketSize: 256 << 20, MaximumConnectSize: 1 << 20,
		MaxQueuedMessages: 1_000_000, WriteTimeout: 30 * time.Second,
	}
}

func (c Capabilities) withDefaults() Capabilities {
	d := DefaultCapabilities()
	if !c.MaximumQoSSet {
		c.MaximumQoS = d.MaximumQoS
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = d.ReceiveMaximum
	}
	if c.TopicAliasMaximum == 0 {
		c.TopicAliasMaximum = d.TopicAliasMaximum
	}
	if c.MaximumPacketSize == 0 {
		c.MaximumPacketSize = d.MaximumPacketSize
	}
	if c.MaximumConnectSize == 0 {
		c.MaximumConnectSize = min(d.MaximumConnectSize, c.MaximumPacketSize)
	}
	if c.MaxQueuedMessages == 0 {
		c.MaxQueuedMessages = d.MaxQueuedMessages
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	return c
}

// server is the MQTT broker core: sessions, the subscription tree,
// retained messages and the connections serving them.
type server struct {
	caps  Capabilities
	log   *slog.Logger
	hooks hooks

	topics   topics
	retained retained

	mu       sync.Mutex
	sessions map[string]*session
	conns    map[*conn]struct{}
	closed   bool
	wg       sync.WaitGroup

	inline *Client
}

func newServer(caps Capabilities, log *slog.Logger) *server {
	s := &server{caps: caps.withDefaults(), log: log, sessions: map[string]*session{}, conns: map[*conn]struct{}{}}
	s.inline = &Client{ID: "", Net: ClientNet{Inline: true}, Properties: ClientProperties{ProtocolVersion: 5}}
	return s
}

// serve runs one accepted connection until it ends. listener is the
// listener's scheme.
func (s *server) serve(nc net.Conn, listener string) error {
	c := newConn(s, nc, listener)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return errors.New("server closed")
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	return c.run()
}

// publish delivers a message to every matching session and, when it is
// retained, stores it. It never blocks on a client.
func (s *server) publish(from *Client, m *message) {
	if m.retain && !s.caps.NoRetain {
		s.retained.set(m)
	}
	matches := s.topics.match(m.topic, nil)
	if len(matches) == 0 {
		return
	}
	aclHooks := s.hooks.with(OnACLCheck)
	for i := 0; i < len(matches); i++ {
		mt := matches[i]
		if mt.sub.noLocal && mt.sub.group == "" && from != nil && !from.Net.Inline && mt.s.id == from.ID {
			continue // [MQTT-3.8.3-3]
		}
		d := delivery{msg: m, qos: min(m.qos, mt.sub.qos), retain: m.retain && mt.sub.retainAsPub}
		if mt.sub.id > 0 {
			d.subIDs = []int{mt.sub.id}
		}
		// Several subscriptions of one session matching: one delivery at
		// the highest QoS with every identifier [MQTT-3.3.4-2].
		for j := i + 1; j < len(matches); j++ {
			if matches[j].s != mt.s || matches[j].sub.group != "" || mt.sub.group != "" {
				continue
			}
			o := matches[j].sub
			if o.noLocal && from != nil && !from.Net.Inline && mt.s.id == from.ID {
				matches[j].s = nil
				continue
			}
			d.qos = max(d.qos, min(m.qos, o.qos))
			d.retain = d.retain || (m.retain && o.retainAsPub)
			if o.id > 0 {
				d.subIDs = append(d.subIDs, o.id)
			}
			matches[j].s = nil
		}
		if mt.s == nil {
			continue
		}
		s.deliver(mt.s, d, aclHooks)
	}
}

// deliver queues d for session ss when the hooks allow it to receive it.
func (s *server) deliver(ss *session, d delivery, aclHooks []Hook) {
	if len(aclHooks) > 0 {
		ss.mu.Lock()
		cl := ss.last
		ss.mu.Unlock()
		if cl == nil {
			return
		}
		for _, h := range aclHooks {
			if !h.OnACLCheck(cl, d.msg.topic, false) {
				return
			}
		}
	}
	c, ok := ss.push(d, s.caps.MaxQueuedMessages)
	if !ok {
		if c != nil && d.qos > 0 {
			s.log.Warn("client too slow: its queue is full, disconnecting", "client", ss.id, "queued", s.caps.MaxQueuedMessages)
			c.disconnect(packets.ErrQuotaExceeded)
		}
		return
	}
	if c != nil {
		c.wakeWriter()
	}
}

// attach gives a connection its session: a new one, the kept one, or a
// fresh one after clean start. An earlier connection with the same client
// ID is disconnected (0x8E) and waited for.
func (s *server) attach(c *conn, clean bool) (ss *session, present bool, err error) {
	id := c.cl.ID
	for tries := 0; ; {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, false, packets.ErrServerShuttingDown
		}
		ss = s.sessions[id]
		var old *conn
		if ss != nil {
			ss.mu.Lock()
			old = ss.conn
			ss.mu.Unlock()
		}
		if old == nil {
			if ss != nil && clean {
				// Forget it first, under s.mu, so no other connection can
				// attach to a session being ended (it would live on with
				// an ended session: connected, and nothing delivered).
				delete(s.sessions, id)
				s.mu.Unlock()
				s.end(ss, true)
				continue // look again: another connection may have come meanwhile
			}
			if ss == nil {
				ss = newSession(id)
				s.sessions[id] = ss
			} else {
				present = true
			}
			ss.mu.Lock()
			c.mu.Lock() // before another connection can find it
			c.attached = true
			c.mu.Unlock()
			ss.conn, ss.last = c, c.cl
			if ss.expireTimer != nil {
				ss.expireTimer.Stop()
				ss.expireTimer = nil
			}
			if ss.willTimer != nil { // reconnected within the will delay
				ss.willTimer.Stop()
				ss.willTimer = nil
			}
			// The will is cancelled too: expire would send it at the
			// session's end, after a later normal DISCONNECT.
			ss.will = nil
			ss.ended = false
			ss.mu.Unlock()
			s.mu.Unlock()
			return ss, present, nil
		}
		s.mu.Unlock()
		if tries++; tries > 3 {
			return nil, false, packets.ErrServerBusy
		}
		old.disconnect(packets.ErrSessionTakenOver)
		select {
		case <-old.done:
		case <-time.After(s.caps.WriteTimeout + time.Second):
			old.stop(packets.ErrSessionTakenOver)
			<-old.done
		}
	}
}

// detach is called when a session's connection ended.
func (s *server) detach(c *conn, ss *session, will *message, willDelay uint32) (expire bool) {
	ss.mu.Lock()
	if ss.conn != c {
		ss.mu.Unlock()
		return false // taken over
	}
	ss.conn = nil
	expiry := ss.expiry
	if will != nil {
		delay := min(willDelay, expiry)
		if delay == 0 {
			ss.mu.Unlock()
			s.publishWill(c.cl, will)
			ss.mu.Lock()
		} else {
			ss.will = will
			ss.willTimer = time.AfterFunc(time.Duration(delay)*time.Second, func() { s.fireWill(ss) })
		}
	}
	if expiry == 0 {
		ss.mu.Unlock()
		s.remove(ss)
		return true
	}
	if expiry != math.MaxUint32 {
		ss.expireTimer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { s.expire(ss) })
	}
	ss.mu.Unlock()
	return false
}

func (s *server) fireWill(ss *session) {
	ss.mu.Lock()
	w, cl := ss.will, ss.last
	ss.will, ss.willTimer = nil, nil
	ss.mu.Unlock()
	if w != nil {
		s.publishWill(cl, w)
	}
}

// publishWill publishes a will unless a WillChecker hook refuses it.
func (s *server) publishWill(cl *Client, w *message) {
	for _, h := range s.hooks.list {
		if wc, ok := h.(WillChecker); ok && !wc.OnWill(cl, w.topic, w.retain) {
			return
		}
	}
	s.publish(cl, w)
}

// expire removes an offline session whose expiry interval passed.
func (s *server) expire(ss *session) {
	ss.mu.Lock()
	if ss.conn != nil || ss.ended {
		ss.mu.Unlock()
		return
	}
	cl := ss.last
	ss.mu.Unlock()
	s.fireWill(ss) // a will delay longer than the session: sent at its end
	s.remove(ss)
	for _, h := range s.hooks.with(OnClientExpired) {
		h.OnClientExpired(cl)
	}
}

// remove forgets an offline session. A connection that attached to it
// since its last one ended (attach holds s.mu) keeps it.
func (s *server) remove(ss *session) {
	s.mu.Lock()
	ss.mu.Lock()
	attached := ss.conn != nil
	ss.mu.Unlock()
	if attached {
		s.mu.Unlock()
		return
	}
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
	s.end(ss, true)
}

// end drops a session's subscriptions and state.
func (s *server) end(ss *session, final bool) {
	ss.mu.Lock()
	subs := ss.subs
	ss.subs = map[string]subscription{}
	ss.clearState()
	ss.ended = final
	if ss.expireTimer != nil {
		ss.expireTimer.Stop()
	}
	ss.mu.Unlock()
	for _, sub := range subs {
		_, f, _ := splitShare(sub.filter)
		s.topics.remove(ss, sub.group, f)
	}
}

// close disconnects every client (0x8B) and waits for their connections
// to end, at most until deadline; then it closes what is left.
func (s *server) close(deadline time.Duration) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for _, ss := range s.sessions {
		ss.mu.Lock()
		if ss.expireTimer != nil {
			ss.expireTimer.Stop()
		}
		if ss.willTimer != nil {
			ss.willTimer.Stop()
		}
		ss.mu.Unlock()
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.disconnect(packets.ErrServerShuttingDown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(deadline):
	}
	for _, c := range conns {
		c.stop(packets.ErrServerShuttingDown)
	}
	select {
	case <-done:
		return nil
	case <-time.After(time.Second):
		return fmt.Errorf("broker: %d connection(s) did not end within %s", len(conns), deadline+time.Second)
	}
}
