// Package session turns Settings and an auth.Provider into a live MQTT 5
// (or, with --mqtt-version 3.1.1, MQTT 3.1.1: v311.go) session: a
// proxy-aware dialer (tcp, tls, ws, wss), CONNECT/CONNACK, keepalive,
// QoS 1 and 2 in both directions, reconnect with backoff and jitter,
// republishing and resubscribing when the broker lost the session, and
// reason codes turned into typed errors.
//
// Why our own engine instead of paho.golang's paho/autopaho (v0.23.0),
// measured with bench_test.go on 2 shared vCPUs, 64-byte payloads:
//
//   - paho.Client.Publish blocks until the PUBACK: pipelining needs one
//     goroutine per message in flight. Against mosquitto (max_inflight
//     1000), QoS 1: this engine ~75-90k msg/s with 0 allocations per
//     message; paho.Client with 1000 publishing goroutines ~27k msg/s and
//     55 allocations (4.5 KB) per message (BenchmarkMosquitto).
//   - paho writes a packet as several buffers: several TLS records or
//     websocket frames per PUBLISH. Coalescing through a bufio.Writer
//     flushed when the write queue drains makes a lone PUBLISH one write and
//     a burst a few: against an acknowledging discard server, QoS 1 over TLS
//     2.1M msg/s buffered vs 69k msg/s written paho's way (BenchmarkPublish;
//     TestOnePublishOneWrite counts the writes).
//   - On CONNACK with Session Present 0, paho drops stored publishes
//     silently; autopaho cannot re-sign a websocket URL per attempt and does
//     not restore subscriptions; v0.23.0 has known in-flight races on
//     reconnect (#330, #341/#343) and a stray stdout print (sendquota.go).
//   - Inbound flow control must acknowledge only after the handler ran
//     (manual ack is not usable through autopaho, #185).
//
// The wire format is still paho's: packets encodes and decodes every packet
// except PUBLISH out and the four acknowledgements in, which codec.go
// handles without allocating (cross-checked against packets in tests).
//
// Concurrency: one writer goroutine per connection owns the socket's write
// side through a bufio.Writer that is flushed when its queue is empty, so a
// burst of packets is one write and a lone PUBLISH is one write (one TLS
// record, one websocket frame). One reader goroutine decodes and matches
// acknowledgements. Inbound messages go through one dispatcher goroutine
// per session, acknowledged after Options.Handler returns.
//
// CPU per message: what costs is waking up (poll, read, TCP window update,
// scheduler), not the bytes. A publisher blocked on a full window is woken
// when a quarter of it is free, not per PUBACK, and refills it in one
// write; with Options.Coalesce a dribbling stream is read about once per
// millisecond (paced.go); inbound messages are carved from shared slabs
// (carver) and a run of deferred PUBACKs is one hand-over to the writer.
// scripts/bench-peers.sh measures the result beside mosquitto's clients.
package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// Defaults and caps.
const (
	// maxWindow caps QoS>=1 messages in flight whatever the broker allows:
	// it bounds memory and leaves packet IDs for SUBSCRIBE/UNSUBSCRIBE.
	maxWindow = 4096
	// defaultReceiveMaximum is what we advertise when --receive-maximum is 0.
	defaultReceiveMaximum = 1024
	// minPacketSize and maxPacketSize bound --max-packet-size: below a few
	// dozen bytes a broker could not even send a PUBLISH; above MQTT's
	// largest packet the setting means nothing.
	minPacketSize = 64
	maxPacketSize = 268435460
	backoffMin    = 100 * time.Millisecond
	backoffMax    = 30 * time.Second
)

// ErrClosed is returned by calls on a session that was closed.
var ErrClosed = errors.New("session closed")

// errConnLost is the cause of a connection that ended without a better one.
var errConnLost = errs.New(errs.Connect, errors.New("connection lost"))

// Session is a live MQTT 5 session. Its methods are safe for concurrent use.
type Session struct {
	o       Options
	target  string // host[:port] as the user named it, for messages
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	stopCh  chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup

	cfg connectConfig

	mu        sync.Mutex
	clientID  string
	caps      Capabilities
	conn      *conn
	connWait  chan struct{} // closed when a connection is up
	spaceWait chan struct{} // closed when the store shrinks
	noPace    atomic.Bool   // paced.go: reads must not wait (see inFlight)
	window    int
	store     store
	byID      map[uint16]*outMsg
	ops       map[uint16]*op
	nextID    uint16
	subs      []Subscription
	qos2In    map[uint16]qos2State
	careful   int // stored messages with 2+ strikes: send one at a time
	warned    bool
	closing   bool
	stopErr   error
	err       error
	inbox     chan inItem

	aliasWarned atomic.Bool // alias.go: the broker allows no topic aliases, said once
	wire        wireCount   // stats.go
}

type connectConfig struct {
	keepalive     time.Duration
	sessionExpiry uint32
	cleanStart    bool
	receiveMax    uint16
	maxPacket     uint32 // Maximum Packet Size we advertise and enforce
	timeout       time.Duration
	connectProps  []UserProperty // CONNECT user properties
	willProps     []UserProperty // will message user properties
	v311          bool           // MQTT 3.1.1 (v311.go)
	inflight      int            // cap of the send window; 0: the broker's Receive Maximum
}

// op is a SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgement.
type op struct {
	ch       chan *packets.ControlPacket // buffered 1
	internal []Subscription              // resubscription after session loss
}

func connect(ctx context.Context, o Options) (*Session, error) {
	if o.Settings == nil || o.Provider == nil {
		return nil, errs.Usagef("session: Settings and Provider are required")
	}
	st := o.Settings
	s := &Session{
		o:      o,
		target: st.Endpoint,
		done:   make(chan struct{}),
		stopCh: make(chan struct{}),
		byID:   make(map[uint16]*outMsg),
		ops:    make(map[uint16]*op),
		qos2In: make(map[uint16]qos2State),
	}
	s.clientID = st.ClientID
	if err := s.configure(); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if o.Handler != nil {
		s.inbox = make(chan inItem, int(s.cfg.receiveMax)+64)
	}
	c, caps, err := s.attempt(ctx, s.cfg.cleanStart)
	if err != nil {
		s.cancel()
		return nil, err
	}
	if o.Handler != nil {
		s.wg.Add(1)
		go s.dispatch()
	}
	s.wg.Add(1)
	go s.run(c)
	if o.OnConnect != nil {
		o.OnConnect(caps)
	}
	return s, nil
}

func (s *Session) configure() error {
	st := s.o.Settings
	switch st.MQTTVersion {
	case "", Version5, Version311:
	default:
		return errs.Usagef("--mqtt-version %q: want 5 or 3.1.1 (or 311, mqttv311, mqttv5)", st.MQTTVersion)
	}
	if err := Check311(st); err != nil {
		return err
	}
	if IsV311(st) && len(s.o.SubscribeProperties) > 0 {
		return MQTT5Only("--subscribe-property")
	}
	if st.Inflight < 0 || st.Inflight > 65535 {
		return errs.Usagef("--inflight %d: must be between 1 and 65535 (or 0 for the default)", st.Inflight)
	}
	ka := st.Keepalive
	if ka < 0 || ka > 65535*time.Second {
		return errs.Usagef("keepalive %s: must be between 0 and 65535s", ka)
	}
	if ka > 0 && ka < time.Second {
		ka = time.Second
	}
	exp := st.SessionExpiry / time.Second
	if exp > 0xFFFFFFFF {
		exp = 0xFFFFFFFF
	}
	rm := st.ReceiveMaximum
	if rm <= 0 {
		rm = defaultReceiveMaximum
	}
	if rm > 65535 {
		return errs.Usagef("receive maximum %d: must be between 1 and 65535", rm)
	}
	mp := st.MaxPacketSize
	switch {
	case mp == 0 && s.o.Limits.MaxPacketSize > 0:
		mp = s.o.Limits.MaxPacketSize
	case mp == 0:
		mp = limits.MQTT5.MaxPacketSize
	case mp < minPacketSize || mp > maxPacketSize:
		return errs.Usagef("--max-packet-size %d: must be between %d and %d bytes (or 0 for the default)", mp, minPacketSize, maxPacketSize)
	}
	if st.WillTopic != "" {
		if err := limits.Text("--will-topic", st.WillTopic); err != nil {
			return err
		}
		if err := limits.Binary("--will-message", len(st.WillMessage)); err != nil {
			return err
		}
		if err := limits.Text("--will-content-type", st.WillContentType); err != nil {
			return err
		}
	}
	if st.WillExpiry/time.Second > 0xFFFFFFFF {
		return errs.Usagef("--will-expiry %s: must be at most %d seconds", st.WillExpiry, uint32(0xFFFFFFFF))
	}
	connectProps, err := ParseUserProperties("--connect-property", st.ConnectProperties)
	if err != nil {
		return err
	}
	willProps, err := ParseUserProperties("--will-property", st.WillProperties)
	if err != nil {
		return err
	}
	timeout := st.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s.cfg = connectConfig{
		keepalive:     ka.Round(time.Second),
		sessionExpiry: uint32(exp),
		cleanStart:    st.CleanStart,
		receiveMax:    uint16(rm),
		maxPacket:     uint32(mp),
		timeout:       timeout,
		connectProps:  connectProps,
		willProps:     willProps,
		v311:          IsV311(st),
		inflight:      st.Inflight,
	}
	if s.cfg.v311 {
		s.cfg.maxPacket = 0 // none advertised: none enforced
		if s.cfg.inflight == 0 {
			s.cfg.inflight = defaultInflight311(s.o.Limits)
		}
	}
	return nil
}

func (s *Session) logf(format string, a ...any) {
	if s.o.Log != nil {
		fmt.Fprintf(s.o.Log, format+"\n", a...)
	}
}

// run owns reconnection: it waits for each connection to end and, when
// Options.Reconnect, dials again with exponential backoff and full jitter.
// The backoff grows over failed reconnects in a row, which includes
// connections the broker ends before answering anything: a broker that
// accepts the CONNECT and then drops the connection at once is not
// hammered.
func (s *Session) run(c *conn) {
	defer s.wg.Done()
	fails := 0 // failed reconnects in a row
	first := true
	for {
		<-c.finished
		cause := c.cause()
		if s.o.Debug != nil {
			traceLine(s.o.Debug, "--", "CLOSED", cause.Error())
		}
		s.mu.Lock()
		s.conn = nil
		closing, stopErr := s.closing, s.stopErr
		var dropped []func()
		blamed := false
		if !closing && stopErr == nil && s.o.Reconnect {
			dropped, blamed = s.strike(c, cause)
		}
		s.mu.Unlock()
		for _, d := range dropped {
			d()
		}
		if closing || stopErr != nil {
			s.finish(stopErr)
			return
		}
		if !s.o.Reconnect || (isFatal(cause) && !(blamed && blamesMessage(cause))) {
			s.finish(cause)
			return
		}
		var pe *ProtocolError
		violated := errors.As(cause, &pe)
		if violated {
			s.warnOnce(cause)
		}
		switch {
		case c.progress.Load() && !violated && !blamed:
			fails = 0
		case !first:
			fails++
		}
		first = false
		if err := s.giveUp(fails, cause); err != nil {
			s.finish(err)
			return
		}
		s.logf("connection lost: %v: reconnecting", cause)
		var err error
		c, fails, err = s.reconnect(fails)
		if c == nil {
			s.finish(err)
			return
		}
	}
}

// maxReconnects is the max-reconnects setting when set, else the
// command's default; 0 means no limit.
func (s *Session) maxReconnects() int {
	if st := s.o.Settings; st.IsSet("max-reconnects") {
		return st.MaxReconnects
	}
	return s.o.MaxReconnects
}

// giveUp returns the session's final error once fails reached the limit.
func (s *Session) giveUp(fails int, cause error) error {
	max := s.maxReconnects()
	if max <= 0 || fails < max {
		return nil
	}
	return errs.New(errs.Connect, fmt.Errorf("gave up after %d failed reconnects in a row (--max-reconnects %d): %w", fails, max, cause))
}

// warnOnce shows the first protocol violation whatever -v says; later
// ones go to the -v log like every connection loss.
func (s *Session) warnOnce(err error) {
	s.mu.Lock()
	first := !s.warned
	s.warned = true
	s.mu.Unlock()
	if first && s.o.Warn != nil {
		s.o.Warn(err.Error() + ": reconnecting (-v shows further connection losses)")
	}
}

// reconnect dials until a connection is up, the session is stopped, the
// attempts ran out or one failed in a way retrying cannot fix. fails is the
// number of failed reconnects so far; it returns the new count.
func (s *Session) reconnect(fails int) (*conn, int, error) {
	for {
		d := backoffMin << min(fails, 16)
		if d > backoffMax {
			d = backoffMax
		}
		d = time.Duration(rand.Int64N(int64(d)) + 1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.stopCh:
			t.Stop()
			return nil, fails, s.stopCause()
		}
		// MQTT 5 resumes whatever session the broker kept (Session
		// Expiry says how long); MQTT 3.1.1's Clean Session 0 would make
		// the broker keep one for ever, so it stays what the user asked.
		c, caps, err := s.attempt(s.ctx, s.cfg.v311 && s.cfg.cleanStart)
		if err == nil {
			s.logf("reconnected (session present: %t)", caps.SessionPresent)
			if s.o.OnConnect != nil {
				s.o.OnConnect(caps)
			}
			return c, fails, nil
		}
		select {
		case <-s.stopCh:
			return nil, fails, s.stopCause()
		default:
		}
		if isFatal(err) {
			return nil, fails, err
		}
		var pe *ProtocolError
		if errors.As(err, &pe) {
			s.warnOnce(err)
		}
		fails++
		s.logf("reconnect attempt %d: %v", fails, err)
		if gerr := s.giveUp(fails, err); gerr != nil {
			return nil, fails, gerr
		}
	}
}

// DroppedError is a QoS>=1 message the session gave up on: the broker
// ended the connection each of the last Tries times it was in flight.
// Its errs kind is Refused.
type DroppedError struct {
	Topic string
	Tries int
	Last  error // how the last of those connections ended
}

func (e *DroppedError) Error() string {
	return fmt.Sprintf("publish to %s: dropped: the broker closed the connection each of the %d times this message was sent (last: %v): check the message against the broker's rules (topic, properties, size, permissions)", esc.String(e.Topic), e.Tries, e.Last)
}

func (e *DroppedError) Unwrap() error { return e.Last }

// As makes errs.KindOf see a DroppedError as kind Refused.
func (e *DroppedError) As(target any) bool {
	if t, ok := target.(**errs.Error); ok {
		*t = &errs.Error{Kind: errs.Refused, Err: e}
		return true
	}
	return false
}

func (s *Session) dropAfter() int {
	if s.o.DropAfter > 0 {
		return s.o.DropAfter
	}
	return 3
}

// strike counts c's end against the messages in flight on it (caller
// holds mu). A connection the broker ended before answering anything adds
// a strike to each: that is what a broker does with a message it cannot
// take, sent first after a reconnect; so does a DISCONNECT whose reason
// blames a packet (malformed, not authorized, …). Any other end (the broker answered
// something first, a timeout, our own error) clears them, so a network
// that cuts connections now and then does not add up strikes. A message
// with two strikes makes the session send one message at a time, so the
// next strike is unambiguous; the message that reaches DropAfter strikes
// alone in flight is dropped. It returns the dropped messages' callbacks
// and whether messages in flight were blamed.
func (s *Session) strike(c *conn, cause error) (dropped []func(), blamed bool) {
	peer := c.peerClosed.Load() && (!c.progress.Load() || blamesMessage(cause))
	var pe *ProtocolError
	if errors.As(cause, &pe) {
		peer = false
	}
	alone := s.store.sent == 1
	for om := s.store.head; om != nil; {
		next := om.next
		if !om.sent || om.released {
			om = next
			continue
		}
		blamed = true
		before := om.strikes
		if peer {
			om.strikes++
		} else {
			om.strikes = 0
		}
		switch {
		case before < 2 && om.strikes >= 2:
			s.careful++
		case before >= 2 && om.strikes < 2:
			s.careful--
		}
		if peer && alone && om.strikes >= s.dropAfter() {
			done, err := om.done, &DroppedError{Topic: om.m.Topic, Tries: om.strikes, Last: cause}
			s.forgetMsg(om)
			if done != nil {
				dropped = append(dropped, func() { done(err) })
			}
		}
		om = next
	}
	if !peer {
		blamed = false
	}
	return dropped, blamed
}

// forgetMsg removes a QoS>=1 message from the store (caller holds mu).
func (s *Session) forgetMsg(om *outMsg) {
	if om.strikes >= 2 {
		s.careful--
	}
	delete(s.byID, om.id)
	s.store.remove(om)
	s.store.put(om)
	s.inFlight()
	// Wake a waiting publisher when a quarter of the window is free, not
	// per acknowledgement: it then refills the window in one burst (one
	// write, one hand-over to the writer) instead of a packet per PUBACK.
	// Flush waits for an empty store.
	if s.store.n == 0 || s.window-s.store.n >= max(1, s.window/4) {
		s.wakeSpace()
	}
}

// readIdle: the reader has handled every acknowledgement it has and is
// about to wait for the socket. A publisher still waiting for a quarter of
// the window is woken now if any slot is free: a broker that does not set
// TCP_NODELAY (mosquitto's default) holds its next PUBACKs until our TCP
// ACK, which the kernel delays up to 40 ms unless we send something; with a
// small Receive Maximum (mosquitto's default is 20) waiting for a quarter
// stalled every window for those 40 ms (50,000 QoS 1 lines took 108 s).
// Woken once per read, not per PUBACK, the publisher still refills in
// bursts.
func (s *Session) readIdle() {
	s.mu.Lock()
	if s.spaceWait != nil && s.store.n < s.window {
		s.wakeSpace()
	}
	s.mu.Unlock()
}

// inFlight updates noPace after the store changed (caller holds mu).
// Pacing delays acknowledgements up to paceGap, which caps a publisher at
// a window per paceGap. Below 200 slots (200,000 messages a second;
// mosquitto's default Receive Maximum is 20) reads are not paced while
// messages are in flight: the Go runtime cannot sleep less than a
// millisecond when idle, so a shorter gap is no gap.
func (s *Session) inFlight() {
	// Stored only when it changes: this runs for every publish and every
	// acknowledgement, and the reader loads it before every read.
	if v := s.window < 200 && s.store.n > 0; v != s.noPace.Load() {
		s.noPace.Store(v)
	}
}

// sendWindow is how many QoS>=1 messages may be in flight now.
func (s *Session) sendWindow() int {
	if s.careful > 0 {
		return 1
	}
	return s.window
}

// blamesMessage: a DISCONNECT reason that blames a packet the client sent,
// which, when messages were in flight, is the message's fault rather than
// the session's.
func blamesMessage(err error) bool {
	var re *ReasonError
	if !errors.As(err, &re) || re.Op != "disconnect" {
		return false
	}
	switch re.Code {
	case 0x81, 0x82, 0x87, 0x90, 0x95, 0x99, 0x9A, 0x9B:
		return true
	}
	return false
}

func (s *Session) stopCause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopErr
}

// isFatal: errors a new attempt would repeat.
func isFatal(err error) bool {
	var re *ReasonError
	if errors.As(err, &re) {
		if re.Op == "disconnect" {
			return fatalDisconnect(re.Code)
		}
		if re.Op == "connect" {
			return fatalConnack(re.Code)
		}
		return true
	}
	k := errs.KindOf(err)
	return k == errs.Usage || k == errs.Refused
}

// stop ends the session with err (nil: closed by the user).
func (s *Session) stop(err error) {
	s.mu.Lock()
	if s.stopErr == nil && !s.closing {
		s.stopErr = err
	}
	if err == nil {
		s.closing = true
	}
	c := s.conn
	s.mu.Unlock()
	s.stopped.Do(func() { close(s.stopCh) })
	s.cancel()
	if c != nil {
		c.kill(ErrClosed)
	}
}

// finish ends the session: pending callbacks get the cause.
func (s *Session) finish(cause error) {
	s.mu.Lock()
	if s.closing && s.stopErr == nil {
		cause = nil
	}
	s.err = cause
	s.closing = true
	cbErr := cause
	if cbErr == nil {
		cbErr = ErrClosed
	}
	var dones []func(error)
	for m := s.store.head; m != nil; m = m.next {
		if m.done != nil {
			dones = append(dones, m.done)
			m.done = nil
		}
	}
	s.wakeSpace()
	s.mu.Unlock()
	s.stopped.Do(func() { close(s.stopCh) })
	s.cancel()
	for _, d := range dones {
		d(cbErr)
	}
	close(s.done)
}

// wakeSpace wakes Publish and Flush callers waiting for the store to shrink.
func (s *Session) wakeSpace() {
	if s.spaceWait != nil {
		close(s.spaceWait)
		s.spaceWait = nil
	}
}

func (s *Session) spaceWaiter() chan struct{} {
	if s.spaceWait == nil {
		s.spaceWait = make(chan struct{})
	}
	return s.spaceWait
}

// waitConn returns the current connection, waiting for one.
func (s *Session) waitConn(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		if s.closing || s.stopErr != nil {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if c := s.conn; c != nil {
			s.mu.Unlock()
			return c, nil
		}
		if s.connWait == nil {
			s.connWait = make(chan struct{})
		}
		ch := s.connWait
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stopCh:
			return nil, ErrClosed
		}
	}
}

// allocID returns a free packet ID (caller holds mu).
func (s *Session) allocID() uint16 {
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.byID[s.nextID]; used {
			continue
		}
		if _, used := s.ops[s.nextID]; used {
			continue
		}
		return s.nextID
	}
}

func (s *Session) publish(ctx context.Context, m *Message, done func(error)) error {
	if m.QoS > 2 {
		return errs.Usagef("publish to %s: QoS %d: must be 0, 1 or 2", m.Topic, m.QoS)
	}
	if err := s.check(m); err != nil {
		return err
	}
	if m.QoS == 0 {
		return s.publish0(ctx, m, done)
	}
	s.mu.Lock()
	for {
		if s.closing || s.stopErr != nil {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.store.n < s.window {
			break
		}
		ch := s.spaceWaiter()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopCh:
			return ErrClosed
		}
		s.mu.Lock()
	}
	om := s.store.get()
	om.m, om.done, om.qos = m, done, m.QoS
	om.id = s.allocID()
	s.byID[om.id] = om
	c := s.conn
	send := c != nil && s.store.unsent == nil && s.store.sent < s.sendWindow()
	if send {
		om.sent, om.everSent = true, true
	}
	s.store.push(om)
	s.inFlight()
	it := wItem{typ: packets.PUBLISH, id: om.id, qos: om.qos, m: m}
	s.mu.Unlock()
	if send {
		// Not ctx: once marked sent, the item must reach the queue (or the
		// connection must die, and the store resends it).
		_ = c.enqueue(context.Background(), it)
	}
	return nil
}

func (s *Session) publish0(ctx context.Context, m *Message, done func(error)) error {
	for {
		c, err := s.waitConn(ctx)
		if err != nil {
			return err
		}
		err = c.enqueue(ctx, wItem{typ: packets.PUBLISH, m: m, done: done})
		if err == errConnGone {
			continue
		}
		return err
	}
}

// checkEncodable refuses a message the codec cannot encode as MQTT 5
// requires: a string longer than its two-byte length, text that is not
// UTF-8. Commands check these with better names first; this keeps a
// library caller from sending a malformed packet the broker would drop
// the connection over.
func checkEncodable(m *Message) error {
	if err := limits.Text("topic", m.Topic); err != nil {
		return err
	}
	p := &m.Props
	if err := limits.Text("content type", p.ContentType); err != nil {
		return err
	}
	if err := limits.Text("response topic", p.ResponseTopic); err != nil {
		return err
	}
	if err := limits.Binary("correlation data", len(p.CorrelationData)); err != nil {
		return err
	}
	for _, u := range p.UserProperties {
		if err := limits.Text("user property key", u.Key); err != nil {
			return err
		}
		if err := limits.Text("user property value", u.Value); err != nil {
			return err
		}
	}
	return nil
}

// check refuses what the broker is known to refuse.
func (s *Session) check(m *Message) error {
	if err := checkEncodable(m); err != nil {
		return fmt.Errorf("publish to %s: %w", esc.String(m.Topic), err)
	}
	if s.cfg.v311 {
		if err := check311(m); err != nil {
			return err
		}
	}
	_, total := publishSize(m, m.QoS)
	if total > 268435460 {
		return &ReasonError{Op: "publish", Code: 0x95, Topic: m.Topic, ReasonString: fmt.Sprintf("%d bytes exceed MQTT's maximum packet size", total)}
	}
	s.mu.Lock()
	caps := s.caps
	s.mu.Unlock()
	// What the CONNACK said the broker refuses is refused here, before the
	// broker would drop the connection over it.
	switch {
	case caps.MaximumPacketSize > 0 && uint32(total) > caps.MaximumPacketSize:
		return &ReasonError{Op: "publish", Code: 0x95, Topic: m.Topic, ReasonString: fmt.Sprintf("%d bytes exceed the broker's Maximum Packet Size %d", total, caps.MaximumPacketSize)}
	case m.QoS > caps.MaximumQoS:
		return &ReasonError{Op: "publish", Code: 0x9B, Topic: m.Topic, ReasonString: fmt.Sprintf("the broker's Maximum QoS is %d", caps.MaximumQoS)}
	case m.Retain && !caps.RetainAvailable:
		return &ReasonError{Op: "publish", Code: 0x9A, Topic: m.Topic, ReasonString: "the broker said Retain Available 0"}
	}
	return nil
}

func (s *Session) flush(ctx context.Context) error {
	s.mu.Lock()
	for s.store.n > 0 {
		if s.closing || s.stopErr != nil {
			s.mu.Unlock()
			return ErrClosed
		}
		ch := s.spaceWaiter()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopCh:
			return ErrClosed
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// acked completes a QoS>=1 message (caller holds mu); it returns the done
// callback to call after unlocking and the messages the freed window slot
// lets through.
func (s *Session) acked(om *outMsg) (func(error), []wItem) {
	done := om.done
	s.forgetMsg(om)
	return done, s.fill()
}

// fill sends stored messages the window now allows (caller holds mu).
func (s *Session) fill() []wItem {
	var items []wItem
	for s.store.unsent != nil && s.store.sent < s.sendWindow() {
		dup := s.store.unsent.everSent
		om := s.store.markSent()
		items = append(items, s.resendItem(om, dup))
	}
	return items
}

func (s *Session) resendItem(om *outMsg, dup bool) wItem {
	if om.released {
		return wItem{typ: packets.PUBREL, id: om.id}
	}
	return wItem{typ: packets.PUBLISH, id: om.id, qos: om.qos, m: om.m, dup: dup}
}

func (s *Session) subscribe(ctx context.Context, subs []Subscription) ([]byte, error) {
	if len(subs) == 0 {
		return nil, errs.Usagef("subscribe: no topic filter")
	}
	for _, sub := range subs {
		if sub.Filter == "" {
			return nil, errs.Usagef("subscribe: empty topic filter")
		}
		if sub.QoS > 2 || sub.RetainHandling > 2 {
			return nil, errs.Usagef("subscribe to %s: QoS must be 0-2 and retain handling 0-2", sub.Filter)
		}
		if sub.ID != subs[0].ID || sub.ID < 0 || sub.ID > maxSubscriptionID {
			return nil, errs.Usagef("subscribe to %s: one SUBSCRIBE carries one subscription identifier (1-%d)", sub.Filter, maxSubscriptionID)
		}
		if s.cfg.v311 {
			if err := checkSub311(sub); err != nil {
				return nil, err
			}
		}
	}
	s.mu.Lock()
	s.remember(subs)
	s.mu.Unlock()
	cp, err := s.request(ctx, func(id uint16) *packets.ControlPacket {
		p := packets.NewControlPacket(packets.SUBSCRIBE)
		sp := p.Content.(*packets.Subscribe)
		sp.PacketID = id
		setSubscriptionID(sp, subs[0].ID)
		s.setSubscribeProperties(sp)
		for _, sub := range subs {
			sp.Subscriptions = append(sp.Subscriptions, subOptions(sub))
		}
		return p
	})
	if err != nil {
		return nil, err
	}
	sa, ok := cp.Content.(*packets.Suback)
	if !ok {
		return nil, fmt.Errorf("subscribe: expected SUBACK, got %s", cp.PacketType())
	}
	codes := sa.Reasons
	var refused error
	s.mu.Lock()
	for i, sub := range subs {
		if i >= len(codes) {
			break
		}
		if codes[i] >= 0x80 {
			s.forget(sub.Filter)
			if refused == nil {
				refused = &ReasonError{Op: "subscribe", Code: codes[i], Topic: sub.Filter, ReasonString: sa.Properties.ReasonString, MQTT311: s.cfg.v311}
			}
		}
	}
	addr := ""
	if s.conn != nil {
		addr = s.conn.addr
	}
	s.mu.Unlock()
	if len(codes) != len(subs) && refused == nil {
		refused = &ProtocolError{Addr: addr, Packet: "SUBACK", Why: fmt.Sprintf("%d reason codes for the %d filters of the SUBSCRIBE", len(codes), len(subs))}
	}
	return codes, refused
}

// maxSubscriptionID is the largest Subscription Identifier (a variable
// byte integer).
const maxSubscriptionID = 268435455

// setSubscribeProperties adds Options.SubscribeProperties to a SUBSCRIBE.
func (s *Session) setSubscribeProperties(sp *packets.Subscribe) {
	if len(s.o.SubscribeProperties) == 0 {
		return
	}
	if sp.Properties == nil {
		sp.Properties = &packets.Properties{}
	}
	sp.Properties.User = wireUser(s.o.SubscribeProperties)
}

func setSubscriptionID(sp *packets.Subscribe, id int) {
	if id == 0 {
		return
	}
	if sp.Properties == nil {
		sp.Properties = &packets.Properties{}
	}
	sp.Properties.SubscriptionIdentifier = &id
}

func subOptions(sub Subscription) packets.SubOptions {
	return packets.SubOptions{Topic: sub.Filter, QoS: sub.QoS, RetainHandling: sub.RetainHandling, NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished}
}

// remember records subscriptions for resubscription (caller holds mu).
func (s *Session) remember(subs []Subscription) {
	for _, sub := range subs {
		s.forget(sub.Filter)
		s.subs = append(s.subs, sub)
	}
}

func (s *Session) forget(filter string) {
	for i, x := range s.subs {
		if x.Filter == filter {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			return
		}
	}
}

func (s *Session) unsubscribe(ctx context.Context, filters []string) error {
	if len(filters) == 0 {
		return errs.Usagef("unsubscribe: no topic filter")
	}
	s.mu.Lock()
	for _, f := range filters {
		s.forget(f)
	}
	s.mu.Unlock()
	cp, err := s.request(ctx, func(id uint16) *packets.ControlPacket {
		p := packets.NewControlPacket(packets.UNSUBSCRIBE)
		up := p.Content.(*packets.Unsubscribe)
		up.PacketID = id
		up.Topics = append([]string(nil), filters...)
		return p
	})
	if err != nil {
		return err
	}
	ua, ok := cp.Content.(*packets.Unsuback)
	if !ok {
		return fmt.Errorf("unsubscribe: expected UNSUBACK, got %s", cp.PacketType())
	}
	for i, code := range ua.Reasons {
		if code >= 0x80 && i < len(filters) {
			return &ReasonError{Op: "unsubscribe", Code: code, Topic: filters[i], ReasonString: ua.Properties.ReasonString}
		}
	}
	return nil
}

// request sends a SUBSCRIBE or UNSUBSCRIBE and waits for its ack, sending
// it again on the next connection when the current one is lost first.
func (s *Session) request(ctx context.Context, build func(id uint16) *packets.ControlPacket) (*packets.ControlPacket, error) {
	o := &op{ch: make(chan *packets.ControlPacket, 1)}
	for {
		c, err := s.waitConn(ctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		id := s.allocID()
		s.ops[id] = o
		s.mu.Unlock()
		release := func() {
			s.mu.Lock()
			if s.ops[id] == o {
				delete(s.ops, id)
			}
			s.mu.Unlock()
		}
		p := build(id)
		if err := c.enqueue(ctx, wItem{typ: p.Type, pkt: p}); err != nil {
			release()
			if err == errConnGone {
				continue
			}
			return nil, err
		}
		select {
		case cp := <-o.ch:
			return cp, nil
		case <-c.done:
			release()
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		case <-s.stopCh:
			release()
			return nil, ErrClosed
		}
	}
}

// disconnectTimeout bounds the DISCONNECT at Close: queueing it behind
// what the writer still has and flushing it. A broker that stopped reading
// holds the writer in a blocked write; closing the connection ends it.
const disconnectTimeout = time.Second

func (s *Session) close(ctx context.Context, reason byte) error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	c := s.conn
	s.mu.Unlock()
	if !already {
		if c != nil {
			d := packets.NewControlPacket(packets.DISCONNECT)
			d.Content.(*packets.Disconnect).ReasonCode = reason
			dctx, cancel := context.WithTimeout(ctx, disconnectWait(ctx))
			flushed := make(chan struct{})
			if c.enqueue(dctx, wItem{typ: packets.DISCONNECT, pkt: d, flushed: flushed}) == nil {
				select {
				case <-flushed:
					// The broker closes the connection once it has read
					// the DISCONNECT: wait for that. Closing first, with
					// its packets still unread in our receive buffer,
					// makes TCP reset the connection, and a reset broker
					// may discard what it had not read yet: the last
					// acknowledgements, the DISCONNECT itself.
					select {
					case <-c.done:
					case <-dctx.Done():
					}
				case <-c.done:
				case <-dctx.Done():
				}
			}
			cancel()
		}
		s.stop(nil)
	}
	// The connection is closed: its goroutines end at once, unless a
	// handler or a done callback is blocked.
	waited := make(chan struct{})
	go func() {
		<-s.done
		s.wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// disconnectWait is how long Close may spend on the DISCONNECT: at most
// disconnectTimeout and, when ctx has a deadline, 3/4 of what is left, so
// the rest remains for the goroutines to end.
func disconnectWait(ctx context.Context) time.Duration {
	d := disconnectTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)*3/4)
	}
	return d
}

// inItem is an inbound PUBLISH on its way to the handler, or only the
// acknowledgement of a QoS 2 duplicate.
type inItem struct {
	m   *Message
	ack Ack
}

// dispatch calls the handler in arrival order and acknowledges afterwards,
// unless the handler deferred the acknowledgement.
func (s *Session) dispatch() {
	defer s.wg.Done()
	for {
		select {
		case it := <-s.inbox:
			if it.m != nil {
				switch err := s.o.Handler(it.m); err {
				case nil:
				case DeferAck:
					it.ack = Ack{}
				default:
					s.stop(err)
					return
				}
			}
			s.sendAck(it.ack)
			if s.o.Drained != nil && len(s.inbox) == 0 {
				// Give the reader a moment to queue the rest of a burst, so
				// a batching handler writes the burst at once.
				runtime.Gosched()
				if len(s.inbox) == 0 {
					s.o.Drained()
				}
			}
		case <-s.stopCh:
			return
		}
	}
}
