// Package relay is a fault-injecting TCP relay for tests: it forwards
// connections to a target and can cut them (mid-packet included), cut them
// at random intervals, or freeze them (stop forwarding without closing, a
// half-open connection as seen from both ends).
package relay

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Relay forwards every accepted connection to its target.
type Relay struct {
	t      testing.TB
	target string
	ln     net.Listener

	mu     sync.Mutex
	conns  map[*pair]struct{}
	thawed chan struct{} // closed while not frozen
	stop   chan struct{}
	cuts   atomic.Int64
	wg     sync.WaitGroup
	once   sync.Once
}

type pair struct {
	a, b net.Conn
	done chan struct{}
	once sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		close(p.done)
		// Linger 0: an abrupt reset, like a dropped route, not a polite FIN.
		for _, c := range []net.Conn{p.a, p.b} {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
		}
	})
}

// Start listens on a free loopback port and relays to target (host:port).
// It stops when the test ends.
func Start(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{t: t, target: target, ln: ln, conns: map[*pair]struct{}{}, thawed: make(chan struct{}), stop: make(chan struct{})}
	close(r.thawed)
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.Stop)
	return r
}

// Addr is the relay's "127.0.0.1:port".
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Port is the relay's port.
func (r *Relay) Port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// URL is "mqtt://" + Addr.
func (r *Relay) URL() string {
	return "mqtt://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port()))
}

// Cuts is how many connections CutAll and CutEvery have cut.
func (r *Relay) Cuts() int { return int(r.cuts.Load()) }

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		a, err := r.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			a.Close()
			continue
		}
		p := &pair{a: a, b: b, done: make(chan struct{})}
		r.mu.Lock()
		select {
		case <-r.stop:
			r.mu.Unlock()
			p.close()
			return
		default:
		}
		r.conns[p] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(p, b, a)
		go r.pipe(p, a, b)
	}
}

func (r *Relay) pipe(p *pair, dst, src net.Conn) {
	defer r.wg.Done()
	defer func() {
		p.close()
		r.mu.Lock()
		delete(r.conns, p)
		r.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			thawed := r.thawed
			r.mu.Unlock()
			select {
			case <-thawed:
			case <-p.done:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// CutAll drops every current connection at once, whatever is in flight.
func (r *Relay) CutAll() {
	r.mu.Lock()
	var ps []*pair
	for p := range r.conns {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.close()
		r.cuts.Add(1)
	}
}

// CutEvery cuts all connections at random intervals in [min, max] until Stop.
func (r *Relay) CutEvery(min, max time.Duration) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			d := min
			if max > min {
				d += time.Duration(rand.Int64N(int64(max - min)))
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
				r.CutAll()
			case <-r.stop:
				t.Stop()
				return
			}
		}
	}()
}

// Freeze stops forwarding in both directions without closing anything:
// both ends see a silent, open connection (half-open).
func (r *Relay) Freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.thawed:
		r.thawed = make(chan struct{})
	default:
	}
}

// Thaw resumes forwarding.
func (r *Relay) Thaw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.thawed:
	default:
		close(r.thawed)
	}
}

// Stop closes the listener and every connection, and waits for the relay's
// goroutines. It may be called more than once.
func (r *Relay) Stop() {
	r.once.Do(func() {
		r.mu.Lock()
		close(r.stop)
		r.mu.Unlock()
		r.ln.Close()
		r.CutAll()
		r.Thaw()
		r.wg.Wait()
	})
}
