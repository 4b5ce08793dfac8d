package broker

import (
	"errors"
	"net"
	"sync"
	"time"
)

// netListener accepts connections on any net.Listener (TCP, TLS,
// websocket) and serves each with the broker core.
type netListener struct {
	id    string // the scheme: mqtt, mqtts, ws, wss
	ln    net.Listener
	conns *connLog

	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func newNetListener(id string, ln net.Listener, conns *connLog) *netListener {
	return &netListener{id: id, ln: ln, conns: conns, done: make(chan struct{})}
}

// serve accepts until close.
func (l *netListener) serve(s *server) {
	defer close(l.done)
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
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
		go func() {
			err := s.serve(nc, l.id)
			l.conns.ended(nc, l.id, err)
		}()
	}
}

func (l *netListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close stops accepting; the server ends the connections.
func (l *netListener) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	<-l.done
}
