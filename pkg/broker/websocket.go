package broker

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ConnInfo is what a websocket listener learned at the upgrade.
type ConnInfo struct {
	// Request is the upgrade request: URL with query, Host, headers, and the
	// TLS state (peer certificates, SNI, ALPN) on wss.
	Request *http.Request
	// Value is what Options.Authorize returned.
	Value any
}

// Upgraded is implemented by connections that came through a websocket
// upgrade; a hook finds it in cl.Net.Conn.
type Upgraded interface {
	UpgradeInfo() ConnInfo
}

// UpgradeInfo returns what the websocket listener learned about a client's
// connection; ok is false for clients that did not connect over websockets.
func UpgradeInfo(cl *Client) (info ConnInfo, ok bool) {
	u, ok := cl.Net.Conn.(Upgraded)
	if !ok {
		return ConnInfo{}, false
	}
	return u.UpgradeInfo(), true
}

// wsListener is a net.Listener of upgraded websockets: an HTTP server on
// the raw listener upgrades requests for / and /mqtt and hands each
// websocket to Accept. mochi's own websocket listener cannot report a
// port-0 address nor show the request to hooks.
type wsListener struct {
	raw       net.Listener
	srv       *http.Server
	authorize func(*http.Request) (any, int)
	upgrader  websocket.Upgrader
	accepted  chan net.Conn
	done      chan struct{}
	served    chan struct{}

	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup
}

func newWSListener(raw net.Listener, authorize func(*http.Request) (any, int), log *slog.Logger, verbose bool) *wsListener {
	// Failed handshakes are connection news: shown with Verbose.
	level := slog.LevelDebug
	if verbose {
		level = slog.LevelInfo
	}
	l := &wsListener{
		raw:       raw,
		authorize: authorize,
		accepted:  make(chan net.Conn),
		done:      make(chan struct{}),
		served:    make(chan struct{}),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			Subprotocols:     []string{"mqtt", "mqttv3.1"},
			// MQTT clients, browsers included, come from any origin;
			// access is decided by Authorize and the hooks.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: 10 * time.Second,
		// net/http logs TLS handshake failures with the log package, to
		// stderr: route them to our logger instead.
		ErrorLog: slog.NewLogLogger(log.Handler(), level),
	}
	go func() {
		defer close(l.served)
		_ = l.srv.Serve(raw)
	}()
	return l
}

// ServeHTTP checks and upgrades one request.
func (l *wsListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		http.Error(w, "broker shutting down", http.StatusServiceUnavailable)
		return
	}
	l.handlers.Add(1)
	l.mu.Unlock()
	defer l.handlers.Done()

	if r.URL.Path != "/" && r.URL.Path != "/mqtt" {
		http.Error(w, "MQTT over websockets is served on /mqtt", http.StatusNotFound)
		return
	}
	var value any
	if l.authorize != nil {
		v, status := l.authorize(r)
		if status != 0 && (status < 200 || status > 299) {
			http.Error(w, http.StatusText(status), status)
			return
		}
		value = v
	}
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	req := r.Clone(context.Background())
	req.Body = http.NoBody
	conn := newWSConn(ws, ConnInfo{Request: req, Value: value})
	select {
	case l.accepted <- conn:
	case <-l.done:
		conn.Close()
	}
}

func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the HTTP server and waits for its goroutines. Upgraded
// connections are not closed here: they belong to the broker.
func (l *wsListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.done)
	err := l.srv.Close()
	<-l.served
	l.handlers.Wait()
	return err
}

func (l *wsListener) Addr() net.Addr { return l.raw.Addr() }
