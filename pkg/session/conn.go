package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
)

// wItem is one packet for the writer goroutine. Publish fields are copied
// in so the writer never reads session state under its lock.
type wItem struct {
	typ     byte
	qos     byte
	dup     bool
	reason  byte
	id      uint16
	ids     []uint16 // PUBACK: several, all reason 0 (Session.Ack)
	m       *Message
	done    func(error) // QoS 0 PUBLISH: called after the write
	pkt     *packets.ControlPacket
	flushed chan struct{} // closed once the item is flushed to the socket
}

// errConnGone: the connection ended before the item could be queued.
var errConnGone = errors.New("connection gone")

// conn is one network connection of a session.
type conn struct {
	s         *Session
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	addr      string
	keepalive time.Duration
	wq        chan wItem
	done      chan struct{} // closed by kill
	finished  chan struct{} // closed when its goroutines are gone and the queue drained
	once      sync.Once
	wg        sync.WaitGroup

	gate   sync.RWMutex // enqueue holds it shared; shutdown exclusively
	closed bool

	errMu sync.Mutex
	err   error

	reads   atomic.Uint64
	writes  atomic.Uint64
	blocked atomic.Bool // the reader waits for the handler: not a dead peer
	carve   carver      // the reader's: memory for inbound messages
	aliases *aliases    // the writer's: topic aliases set on this connection

	// progress: the broker answered something on this connection (an
	// acknowledgement, a message, a PINGRESP), so it was not a failure.
	progress atomic.Bool
	// peerClosed: the broker ended the connection (DISCONNECT, EOF, reset),
	// not a timeout or a violation on our side of the reading.
	peerClosed atomic.Bool
}

func (c *conn) cause() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err == nil {
		return errConnLost
	}
	return c.err
}

// kill ends the connection; the first cause wins.
func (c *conn) kill(err error) {
	c.once.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		hardClose(c.nc)
	})
}

// hardClose closes a connection and every layer under it, innermost first:
// a blocked Read or Write returns at once, and tls.Conn.Close cannot block
// (up to 5 s) sending close_notify into a socket whose peer stopped
// reading.
func hardClose(nc net.Conn) {
	for inner := nc; inner != nil; {
		next := underlying(inner)
		if next == nil {
			inner.Close()
		}
		inner = next
	}
	nc.Close()
}

// underlying is the connection a layer runs over, or nil.
func underlying(nc net.Conn) net.Conn {
	if l, ok := nc.(interface{ NetConn() net.Conn }); ok { // *tls.Conn, wsConn, proxy tunnels
		return l.NetConn()
	}
	return nil
}

// enqueue hands an item to the writer; it blocks while the queue is full.
func (c *conn) enqueue(ctx context.Context, it wItem) error {
	c.gate.RLock()
	defer c.gate.RUnlock()
	if c.closed {
		return errConnGone
	}
	select {
	case c.wq <- it:
		return nil
	default:
	}
	select {
	case c.wq <- it:
		return nil
	case <-c.done:
		return errConnGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start runs the connection's goroutines.
func (c *conn) start() {
	c.wg.Add(2)
	go c.reader()
	go c.writer()
	if c.keepalive > 0 {
		c.wg.Add(1)
		go c.pinger()
	}
	go func() {
		<-c.done
		c.wg.Wait()
		c.gate.Lock()
		c.closed = true
		c.gate.Unlock()
		for {
			select {
			case it := <-c.wq:
				if it.done != nil {
					it.done(fmt.Errorf("publish to %s: %w before the message was written", it.m.Topic, errConnLost))
				}
			default:
				close(c.finished)
				return
			}
		}
	}()
}

// errWriter reports the socket's first write error to kill, so a dead
// connection is noticed even while bufio keeps its error to itself.
type errWriter struct{ c *conn }

func (w errWriter) Write(p []byte) (int, error) {
	n, err := w.c.nc.Write(p)
	if err != nil {
		if peerGone(err) {
			w.c.peerClosed.Store(true)
		}
		w.c.kill(w.c.netErr("write", err))
	}
	return n, err
}

// peerGone reports whether a read or write error means the broker closed
// the connection (as opposed to a timeout or a local failure).
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *conn) netErr(op string, err error) error {
	select {
	case <-c.done:
		return c.cause()
	default:
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errs.Connectf("connection to %s closed by the broker", c.addr)
	}
	return errs.Connectf("connection to %s: %s: %v", c.addr, op, err)
}

func (c *conn) writer() {
	defer c.wg.Done()
	var flushed []chan struct{}
	for {
		var it wItem
		select {
		case it = <-c.wq:
		case <-c.done:
			return
		}
		if err := c.write(it); err != nil {
			c.kill(err)
			return
		}
		if it.flushed != nil {
			flushed = append(flushed, it.flushed)
		}
		if it.typ == packets.DISCONNECT {
			// Nothing may follow a DISCONNECT.
			err := c.bw.Flush()
			for _, ch := range flushed {
				close(ch)
			}
			if err != nil {
				c.kill(c.netErr("write", err))
			}
			<-c.done
			return
		}
		if len(c.wq) == 0 && c.bw.Buffered() > 0 {
			// Let a publisher that is about to queue more run first: the
			// next flush then carries a burst, not one packet per syscall.
			runtime.Gosched()
		}
		if len(c.wq) == 0 {
			if err := c.bw.Flush(); err != nil {
				c.kill(c.netErr("write", err))
				return
			}
			c.writes.Add(1)
			for _, ch := range flushed {
				close(ch)
			}
			flushed = flushed[:0]
		}
	}
}

// unbufferedWrites makes the writer write each packet straight to the
// socket the way paho does (several writes per packet: several TLS records
// or websocket frames). Benchmarks only: it shows what the buffer saves.
var unbufferedWrites bool

func (c *conn) writeUnbuffered(it wItem) error {
	for _, id := range it.ids {
		if _, err := pahoAck(it.typ, id, 0).WriteTo(c.nc); err != nil {
			return c.netErr("write", err)
		}
	}
	if it.ids != nil {
		return nil
	}
	var cp *packets.ControlPacket
	switch it.typ {
	case packets.PUBLISH:
		cp = pahoPublish(it.m, it.qos, it.id, it.dup)
	case packets.PUBACK, packets.PUBREC, packets.PUBREL, packets.PUBCOMP:
		cp = pahoAck(it.typ, it.id, it.reason)
	case packets.PINGREQ:
		cp = packets.NewControlPacket(packets.PINGREQ)
	default:
		cp = it.pkt
	}
	if _, err := cp.WriteTo(c.nc); err != nil {
		return c.netErr("write", err)
	}
	if it.done != nil {
		it.done(nil)
	}
	return nil
}

func (c *conn) write(it wItem) error {
	v311 := c.s.cfg.v311
	if unbufferedWrites && !v311 {
		return c.writeUnbuffered(it)
	}
	tr := c.s.o.Debug
	switch it.typ {
	case packets.PUBLISH:
		topic, alias := c.writePublish(it)
		if tr != nil {
			traceOut(tr, "PUBLISH", fmt.Sprintf("id=%d qos=%d dup=%t retain=%t topic=%q alias=%d bytes=%d", it.id, it.qos, it.dup, it.m.Retain, topic, alias, len(it.m.Payload)))
		}
		if it.done != nil {
			it.done(nil)
		}
	case packets.PUBACK, packets.PUBREC, packets.PUBREL, packets.PUBCOMP:
		if v311 {
			it.reason = 0 // 3.1.1 acknowledgements carry no reason code
		}
		if it.ids == nil {
			writeAck(c.bw, it.typ, it.id, it.reason)
			if tr != nil {
				traceOut(tr, packetName(it.typ), ackTrace(it.id, it.reason, "", v311))
			}
		}
		for _, id := range it.ids {
			writeAck(c.bw, it.typ, id, 0)
			if tr != nil {
				traceOut(tr, packetName(it.typ), ackTrace(id, 0, "", v311))
			}
		}
	case packets.PINGREQ:
		_, _ = c.bw.Write([]byte{packets.PINGREQ << 4, 0})
		if tr != nil {
			traceOut(tr, "PINGREQ", "")
		}
	default:
		var p io.WriterTo = it.pkt
		if v311 {
			p = writer311{it.pkt}
		}
		if err := writePacket(c.bw, p); err != nil {
			return c.netErr("write", err)
		}
		if tr != nil {
			traceOut(tr, it.pkt.PacketType(), describe(it.pkt))
		}
	}
	return nil
}

func (c *conn) reader() {
	defer c.wg.Done()
	fr := frameReader{r: c.br, max: int(c.s.cfg.maxPacket), v311: c.s.cfg.v311}
	acks := false // acknowledgements handled since the socket was last read
	for {
		f, err := fr.next()
		if err != nil {
			var tl *packetTooLarge
			var v *violation
			if errors.As(err, &tl) || errors.As(err, &v) {
				c.kill(c.protocolErr(0, err))
				return
			}
			if peerGone(err) {
				c.peerClosed.Store(true)
			}
			c.kill(c.netErr("read", err))
			return
		}
		c.reads.Add(1)
		if err := checkFlags(f); err != nil {
			c.kill(c.protocolErr(f.typ(), err))
			return
		}
		if err := c.handle(f); err != nil {
			c.kill(err)
			return
		}
		if f.typ() != packets.DISCONNECT {
			c.progress.Store(true)
		}
		switch f.typ() {
		case packets.PUBACK, packets.PUBREC, packets.PUBCOMP:
			acks = true
		}
		if acks && !fr.ready() {
			acks = false
			c.s.readIdle()
		}
	}
}

func (c *conn) handle(f frame) error {
	s := c.s
	tr := s.o.Debug
	switch t := f.typ(); t {
	case packets.PUBACK, packets.PUBREC, packets.PUBCOMP:
		id, rc, rs, err := ackFields(f)
		if err != nil {
			return c.protocolErr(t, err)
		}
		if tr != nil {
			traceIn(tr, packetName(t), ackTrace(id, rc, rs, s.cfg.v311))
		}
		s.onAck(c, t, id, rc, rs)
	case packets.PUBREL:
		id, rc, _, err := ackFields(f)
		if err != nil {
			return c.protocolErr(t, err)
		}
		if tr != nil {
			traceIn(tr, "PUBREL", ackTrace(id, rc, "", s.cfg.v311))
		}
		s.mu.Lock()
		delete(s.qos2In, id)
		s.mu.Unlock()
		_ = c.enqueue(context.Background(), wItem{typ: packets.PUBCOMP, id: id})
	case packets.PUBLISH:
		if err := checkPublish(f); err != nil {
			return c.protocolErr(t, err)
		}
		p, payload, err := f.decodePublish(&c.carve)
		if err != nil {
			return c.protocolErr(t, err)
		}
		if tr != nil {
			traceIn(tr, "PUBLISH", fmt.Sprintf("id=%d qos=%d dup=%t retain=%t topic=%q bytes=%d", p.PacketID, p.QoS, p.Duplicate, p.Retain, p.Topic, len(payload)))
		}
		s.onPublish(c, &p, payload)
	case packets.SUBACK, packets.UNSUBACK:
		cp, err := f.decode()
		if err != nil {
			return c.protocolErr(t, err)
		}
		if tr != nil {
			traceIn(tr, cp.PacketType(), describe(cp))
		}
		s.onSuback(cp)
	case packets.PINGRESP:
		if tr != nil {
			traceIn(tr, "PINGRESP", "")
		}
	case packets.DISCONNECT:
		c.peerClosed.Store(true)
		var rc byte
		var rs string
		if cp, err := f.decode(); err == nil {
			d := cp.Content.(*packets.Disconnect)
			rc, rs = d.ReasonCode, d.Properties.ReasonString
		}
		rs = esc.String(rs)
		if tr != nil {
			traceIn(tr, "DISCONNECT", fmt.Sprintf("reason=0x%02X %s", rc, rs))
		}
		s.logf("the broker disconnected: %s (0x%02X) %s", ReasonName(rc), rc, rs)
		if fatalDisconnect(rc) {
			return &ReasonError{Op: "disconnect", Code: rc, ReasonString: rs}
		}
		msg := fmt.Sprintf("connection to %s closed by the broker: %s (0x%02X)", c.addr, ReasonName(rc), rc)
		if rs != "" {
			msg += ": " + rs
		}
		return errs.Connectf("%s", msg)
	default:
		return c.protocolErr(t, violationf(packetName(t), "a broker must not send this packet"))
	}
	return nil
}

// protocolErr names the broker, the packet and the violation.
func (c *conn) protocolErr(t byte, err error) error {
	var v *violation
	if errors.As(err, &v) {
		return &ProtocolError{Addr: c.addr, Packet: v.packet, Why: v.why}
	}
	name := "packet"
	if t != 0 {
		name = packetName(t)
	}
	return &ProtocolError{Addr: c.addr, Packet: name, Why: err.Error()}
}

// pinger sends PINGREQ when the connection is idle and ends it when the
// broker stays silent for half a keepalive after one: a half-open
// connection is noticed within 1.5 keepalive intervals of the last packet.
func (c *conn) pinger() {
	defer c.wg.Done()
	ka := c.keepalive
	// PINGREQ after 3/4 keepalive without traffic, dead after 1/2 keepalive
	// without an answer; the tick's lateness counts twice, so at ka/16 a
	// half-open connection is noticed within 1.375 keepalives.
	tick := time.NewTicker(max(ka/16, 50*time.Millisecond))
	defer tick.Stop()
	now := time.Now()
	lastRead, lastWrite := now, now
	reads, writes := c.reads.Load(), c.writes.Load()
	var pingSent time.Time
	var readsAtPing uint64
	for {
		select {
		case <-c.done:
			return
		case now = <-tick.C:
		}
		if r := c.reads.Load(); r != reads || c.blocked.Load() {
			reads, lastRead = r, now
		}
		if w := c.writes.Load(); w != writes {
			writes, lastWrite = w, now
		}
		if !pingSent.IsZero() {
			if reads != readsAtPing || c.blocked.Load() {
				pingSent = time.Time{}
			} else if now.Sub(pingSent) >= ka/2 {
				c.kill(errs.Connectf("connection to %s: no answer from the broker within %s of PINGREQ (keepalive %s): the connection is dead", c.addr, ka/2, ka))
				return
			}
		}
		if pingSent.IsZero() && (now.Sub(lastRead) >= ka*3/4 || now.Sub(lastWrite) >= ka*3/4) {
			pingSent, readsAtPing = now, reads
			select {
			case c.wq <- wItem{typ: packets.PINGREQ}:
			default: // the writer is busy: its writes prove we are alive to the broker
			}
		}
	}
}

// onAck completes or advances an outbound QoS>=1 message.
func (s *Session) onAck(c *conn, typ byte, id uint16, rc byte, rs string) {
	s.mu.Lock()
	om := s.byID[id]
	if om == nil || !om.sent {
		s.mu.Unlock()
		return
	}
	var err error
	if rc >= 0x80 {
		err = &ReasonError{Op: "publish", Code: rc, ReasonString: rs, Topic: om.m.Topic}
	}
	switch {
	case typ == packets.PUBACK && om.qos == 1,
		typ == packets.PUBREC && om.qos == 2 && err != nil,
		typ == packets.PUBCOMP && om.qos == 2 && om.released:
		done, items := s.acked(om)
		s.mu.Unlock()
		for _, it := range items {
			_ = c.enqueue(context.Background(), it)
		}
		if done != nil {
			done(err)
		}
	case typ == packets.PUBREC && om.qos == 2:
		om.released = true
		s.mu.Unlock()
		_ = c.enqueue(context.Background(), wItem{typ: packets.PUBREL, id: id})
	default:
		s.mu.Unlock()
	}
}

func (s *Session) onPublish(c *conn, p *packets.Publish, payload []byte) {
	m := inbound(p, payload, &c.carve)
	it := inItem{m: m}
	switch p.QoS {
	case 1:
		m.ack = Ack{c: c, id: p.PacketID, typ: packets.PUBACK}
	case 2:
		m.ack = Ack{c: c, id: p.PacketID, typ: packets.PUBREC}
		s.mu.Lock()
		st, seen := s.qos2In[p.PacketID]
		switch {
		case !seen:
			s.qos2In[p.PacketID] = qos2State{c: c}
		case st.acked:
			it.m = nil // handled once already: acknowledge only
		default:
			// A redelivery of a message the handler holds unacknowledged
			// (deferred, or not handled yet): its acknowledgement will
			// answer this copy too.
			st.dup = c
			s.qos2In[p.PacketID] = st
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	it.ack = m.ack
	if s.inbox == nil {
		s.sendAck(it.ack)
		return
	}
	select {
	case s.inbox <- it:
		return
	default:
	}
	c.blocked.Store(true)
	defer c.blocked.Store(false)
	for {
		select {
		case s.inbox <- it:
			return
		case <-s.stopCh:
			return
		case <-c.done:
		}
		if p.QoS != 2 {
			return
		}
		// Not handed over: the packet ID must not stay marked as received,
		// or the broker's redelivery would be dropped as a copy. A copy
		// that came meanwhile on a newer connection (and was held back
		// for this one's acknowledgement) is delivered now in its stead.
		s.mu.Lock()
		st, ok := s.qos2In[p.PacketID]
		if !ok || st.c != c || st.acked {
			s.mu.Unlock()
			return
		}
		if st.dup == nil || st.dup == c {
			delete(s.qos2In, p.PacketID)
			s.mu.Unlock()
			return
		}
		c = st.dup
		s.qos2In[p.PacketID] = qos2State{c: c}
		s.mu.Unlock()
		m.ack.c = c
		it.ack = m.ack
	}
}

func (s *Session) onSuback(cp *packets.ControlPacket) {
	id := cp.PacketID()
	s.mu.Lock()
	o := s.ops[id]
	delete(s.ops, id)
	if o != nil && o.internal != nil {
		if sa, ok := cp.Content.(*packets.Suback); ok {
			for i, code := range sa.Reasons {
				if code >= 0x80 && i < len(o.internal) {
					s.forget(o.internal[i].Filter)
					s.mu.Unlock()
					s.logf("resubscribe: %v", &ReasonError{Op: "subscribe", Code: code, Topic: o.internal[i].Filter, ReasonString: sa.Properties.ReasonString, MQTT311: s.cfg.v311})
					s.mu.Lock()
				}
			}
		}
	}
	s.mu.Unlock()
	if o != nil && o.internal == nil {
		select {
		case o.ch <- cp:
		default:
		}
	}
}
