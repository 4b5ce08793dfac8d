package reliability

import (
	"net"
	"sync"
	"testing"
	"time"
)

// blackhole is a TCP relay whose Freeze makes the path a black hole in
// both directions, closes included: while frozen, nothing is forwarded and
// a side that closes is not closed on the other side until Thaw. That is a
// half-open connection as a dead route makes it, and it keeps the broker's
// own keepalive timeout (which closes its side) from reaching the client,
// so the test sees the client's keepalive at work. internal/relay passes
// closes on even when frozen.
type blackhole struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	thawed chan struct{}
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
}

func startBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &blackhole{ln: ln, target: target, thawed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(h.thawed)
	h.wg.Add(1)
	go h.accept()
	t.Cleanup(h.stop)
	return h
}

func (h *blackhole) URL() string { return "mqtt://" + h.ln.Addr().String() }

func (h *blackhole) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		c.Close()
		return false
	}
	h.conns[c] = struct{}{}
	return true
}

func (h *blackhole) accept() {
	defer h.wg.Done()
	for {
		a, err := h.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.DialTimeout("tcp", h.target, 5*time.Second)
		if err != nil {
			a.Close()
			continue
		}
		if !h.track(a) || !h.track(b) {
			a.Close()
			b.Close()
			return
		}
		var once sync.Once
		closeBoth := func() { once.Do(func() { a.Close(); b.Close() }) }
		h.wg.Add(2)
		go h.pipe(b, a, closeBoth)
		go h.pipe(a, b, closeBoth)
	}
}

// gate returns once the relay is thawed.
func (h *blackhole) gate() {
	h.mu.Lock()
	ch := h.thawed
	h.mu.Unlock()
	<-ch
}

func (h *blackhole) pipe(dst, src net.Conn, closeBoth func()) {
	defer h.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		h.gate()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				closeBoth()
				return
			}
		}
		if err != nil {
			closeBoth()
			return
		}
	}
}

// Freeze turns the relay into a black hole until Thaw.
func (h *blackhole) Freeze() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.thawed:
		h.thawed = make(chan struct{})
	default:
	}
}

// Thaw forwards again, closes and all.
func (h *blackhole) Thaw() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.thawed:
	default:
		close(h.thawed)
	}
}

func (h *blackhole) stop() {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.ln.Close()
	h.Thaw()
	h.wg.Wait()
}
