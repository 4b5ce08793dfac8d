package broker

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// connectWait bounds the time from accept to CONNECT (TLS handshake
// included); mochi replaces the deadline with the keepalive after CONNECT.
const connectWait = 30 * time.Second

// netListener serves any net.Listener to mochi. Unlike listeners.Net it
// closes, on Close, the connections that never sent CONNECT (mochi only
// disconnects clients with a session, and its Close waits for all), bounds
// the time to CONNECT, and logs through our logger.
type netListener struct {
	id    string // the scheme; mochi's cl.Net.Listener
	ln    net.Listener
	conns *connLog

	mu     sync.Mutex
	closed bool
	live   map[net.Conn]struct{}
	wg     sync.WaitGroup
}

var _ listeners.Listener = (*netListener)(nil)

func newNetListener(id string, ln net.Listener, conns *connLog) *netListener {
	return &netListener{id: id, ln: ln, conns: conns, live: map[net.Conn]struct{}{}}
}

func (l *netListener) ID() string              { return l.id }
func (l *netListener) Address() string         { return l.ln.Addr().String() }
func (l *netListener) Protocol() string        { return l.id }
func (l *netListener) Init(*slog.Logger) error { return nil }

// Serve accepts until Close.
func (l *netListener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry,
			// as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.conns.log.Warn("accept failed", "listener", l.id, "error", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !l.track(conn) {
			conn.Close()
			return
		}
		go func() {
			defer l.untrack(conn)
			_ = conn.SetDeadline(time.Now().Add(connectWait))
			err := establish(l.id, conn)
			l.conns.ended(conn, l.id, err)
		}()
	}
}

func (l *netListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *netListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.live[c] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *netListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.live, c)
	l.mu.Unlock()
	c.Close()
	l.wg.Done()
}

// Close stops accepting, lets mochi disconnect its clients (DISCONNECT
// 0x8B server shutting down), closes what is left and waits for every
// connection's goroutine.
func (l *netListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()

	l.ln.Close()
	// mochi writes the DISCONNECT synchronously: a client that stopped
	// reading must not hold up the shutdown.
	l.mu.Lock()
	for c := range l.live {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	}
	l.mu.Unlock()
	closeClients(l.id)
	l.mu.Lock()
	for c := range l.live {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
