package session

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// pacedConn reads a busy socket in batches (Options.Coalesce). A client
// faster than its broker is woken for every few packets the broker writes,
// and each wake-up (poll, read, TCP window update, scheduler) costs more
// than the packets it reads: 200,000 QoS 0 messages arrived in about
// 50,000 reads of ~100 bytes. While reads are small and come less than
// 2×paceGap apart, the next read waits until paceGap after the previous
// one, so a dribbling stream is read about once per paceGap, whatever lies
// in the socket buffer by then in one read. Data never waits more than
// paceGap; a read after a quiet moment, and any read after a large one, is
// not delayed; packets spaced more than paceGap apart are not delayed at
// all (the wait ends before they arrive). A write does not end the wait:
// a subscriber writes its PUBACKs all the time, and waking the reader for
// each batch made sub draining QoS 1 messages spend 8× the CPU (1.75 s
// instead of 0.20 s for 200,000, scripts/bench-peers.sh sub-q1); a reply
// to a packet just written waits at most paceGap.
//
// It paces the TCP socket, under TLS and websockets (paced): there a read
// returns at most one record or frame, so pacing above them waited a
// millisecond per packet (about 1,000 packets a second) and mosquitto
// dropped QoS 0 messages while its queue for the client overflowed.
type pacedConn struct {
	net.Conn
	last   time.Time    // when the previous read returned
	pace   bool         // the previous read was small and soon after the one before
	noPace *atomic.Bool // the session's noPace: reads must not wait

	now   func() time.Time                     // tests; nil: time.Now
	after func(time.Duration) <-chan time.Time // tests; nil: time.After
}

const (
	paceGap   = time.Millisecond
	paceSmall = 8 << 10 // bytes: a read below this is small
)

// paced wraps a socket in a pacedConn; a connection whose reads return one
// TLS record at a time (a tunnel through an https:// proxy) is left alone.
func paced(c net.Conn, noPace *atomic.Bool) net.Conn {
	for inner := c; inner != nil; inner = underlying(inner) {
		if _, ok := inner.(*tls.Conn); ok {
			return c
		}
	}
	return &pacedConn{Conn: c, noPace: noPace}
}

// NetConn is the socket, for hardClose.
func (p *pacedConn) NetConn() net.Conn { return p.Conn }

func (p *pacedConn) Read(b []byte) (int, error) {
	now, after := time.Now, time.After
	if p.now != nil {
		now, after = p.now, p.after
	}
	if p.pace && (p.noPace == nil || !p.noPace.Load()) {
		if d := paceGap - now().Sub(p.last); d > 0 {
			<-after(d)
		}
	}
	n, err := p.Conn.Read(b)
	t := now()
	// A read that filled b may have left more behind: not small.
	p.pace = n < paceSmall && n < len(b) && !p.last.IsZero() && t.Sub(p.last) < 2*paceGap
	p.last = t
	return n, err
}
