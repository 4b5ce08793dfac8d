// Package broker is the embedded MQTT broker (MQTT 5 and 3.1.1) with plain
// TCP, TLS, websocket and secure websocket listeners. Tests start it
// in-process on :0; `iotctl broker` runs it as a command. Hooks (the IoT
// Core emulation) plug in through Options.Hooks.
//
// The broker core is our own, over the packet codec of mochi-mqtt's
// packets package. Until this release it was mochi-mqtt/server v2.7.9,
// which we could not keep: its per-client in-flight map takes a read lock
// recursively (Inflight.NextImmediate → GetAll), so a QoS 1 subscriber
// acknowledging while another client delivers to it wedges the broker for
// good (no served version has the fix); it acknowledges QoS 1 publishes
// before delivering them, drops QoS 1/2 deliveries when a client's write
// queue is full, checks a resumed client's SUBSCRIBE packet IDs against its
// own outgoing IDs (0x91 on resume), and allocates a packet's announced
// size before reading it. Patching it needed a fork (a replace directive
// breaks go install) or a copy of its code; neither is allowed here.
//
// The design, in brief:
//   - one reader goroutine and one writer goroutine per connection; the
//     reader handles what the client sends, the writer sends control
//     packets and the session's deliveries, many packets per write;
//   - a session (per client ID) holds subscriptions, a bounded queue, the
//     QoS 1/2 flight (our packet IDs) and the client's unreleased QoS 2
//     IDs (its packet IDs: a namespace of their own);
//   - routing appends to session queues under short per-session locks and
//     never waits for a client: a client that does not read costs only
//     itself (its queue fills, it is disconnected with 0x97; a write
//     blocked past Capabilities.WriteTimeout ends its connection);
//   - a QoS 1/2 publish is acknowledged after it is in every matching
//     session's queue, so an acknowledged message is never lost while the
//     broker runs;
//   - every wait has a deadline: Close returns within its deadline even
//     when clients stop reading.
//
// Measured against mosquitto on the same machine: see scripts/bench-peers.sh
// and the README's performance section.
package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// Listener schemes, in the order Start binds them and Listeners lists them.
const (
	MQTT  = "mqtt"
	MQTTS = "mqtts"
	WS    = "ws"
	WSS   = "wss"
)

// Options configure a Broker. The zero value is a broker with no network
// listeners (reachable only through Publish) and open access.
type Options struct {
	// Listener addresses, host:port; "" leaves the listener off, port 0
	// picks a free port (see Listeners).
	Listen    string // plain MQTT over TCP
	TLSListen string // MQTT over TLS
	WSListen  string // MQTT over websocket
	WSSListen string // MQTT over websocket over TLS

	// TLSCert and TLSKey are the server certificate and key (PEM) of the TLS
	// listeners. When both are empty, a CA and a certificate for localhost,
	// 127.0.0.1 and ::1 are made once under <Home>/broker and reused.
	TLSCert, TLSKey string
	// ClientCA, when set, makes the TLS listeners require client
	// certificates signed by one of its CAs (PEM).
	ClientCA string
	// TLSConfig, when set, adjusts each TLS listener's configuration
	// (scheme MQTTS or WSS) before it is used, e.g. to route by ALPN with
	// GetConfigForClient.
	TLSConfig func(scheme string, c *tls.Config)

	// Authorize, when set, checks a websocket upgrade request before the
	// upgrade. A status outside 200–299 refuses it with that status (0 counts
	// as 200); the value travels with the connection (see UpgradeInfo).
	Authorize func(r *http.Request) (any, int)

	// Home holds generated certificates; default profilestore.DefaultDir().
	Home string
	// Logger receives the broker's logs; nil discards them. Nothing is ever
	// written to stdout.
	Logger *slog.Logger
	// Verbose logs one line per client connection and disconnection.
	Verbose bool

	// Hooks are added in order. Without hooks every client is allowed.
	Hooks []Hook
	// Capabilities override DefaultCapabilities when set.
	Capabilities *Capabilities
	// CloseTimeout bounds Close (default 2 s).
	CloseTimeout time.Duration
}

// Listener is a bound listener.
type Listener struct {
	Scheme string // mqtt, mqtts, ws or wss
	Addr   string // host:port actually bound
}

// URL is the listener's address as a URL, e.g. mqtt://127.0.0.1:1883.
func (l Listener) URL() string { return l.Scheme + "://" + l.Addr }

// ListenError is a listener that could not be bound.
type ListenError struct {
	Scheme string
	Addr   string
	Err    error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen on %s (%s): %v", e.Addr, e.Scheme, e.Err)
}
func (e *ListenError) Unwrap() error { return e.Err }

// Broker is a running or ready-to-start embedded broker.
type Broker struct {
	opts   Options
	log    *slog.Logger
	conns  *connLog
	server *server
	ln     []*netListener
	tls    *tls.Config // base config of the TLS listeners; nil when none
	caFile string

	mu        sync.Mutex
	started   bool
	closed    bool
	listeners []Listener
}

// New checks the options, loads or makes the TLS material and prepares the
// broker. Errors are usage errors: bad files or option combinations.
func New(opts Options) (*Broker, error) {
	b := &Broker{opts: opts, log: opts.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.Home == "" {
		b.opts.Home = profilestore.DefaultDir()
	}
	if err := b.loadTLS(); err != nil {
		return nil, errs.New(errs.Usage, err)
	}
	b.conns = &connLog{log: b.log, verbose: opts.Verbose}

	caps := DefaultCapabilities()
	if opts.Capabilities != nil {
		caps = *opts.Capabilities
	}
	b.server = newServer(caps, b.log)
	b.addHooks()
	return b, nil
}

// loadTLS builds the TLS base config when a TLS listener is on.
func (b *Broker) loadTLS() error {
	o := b.opts
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("broker TLS: a certificate needs its key and a key its certificate: give both --tls-cert and --tls-key, or neither to use a generated certificate")
	}
	if o.TLSListen == "" && o.WSSListen == "" {
		if o.TLSCert != "" || o.ClientCA != "" {
			return errors.New("broker TLS: certificates given but no TLS listener: add --tls-listen or --wss-listen")
		}
		return nil
	}
	certFile, keyFile := o.TLSCert, o.TLSKey
	if certFile == "" {
		dir := filepath.Join(o.Home, "broker")
		var err error
		certFile, keyFile, b.caFile, err = ensureCerts(dir)
		if err != nil {
			return fmt.Errorf("broker TLS: generate a certificate in %s: %w: make the folder writable, set IOTCTL_HOME, or give --tls-cert and --tls-key", dir, err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("broker TLS: load %s and %s: %w: give a PEM certificate and its PEM key", certFile, keyFile, err)
	}
	b.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if o.ClientCA != "" {
		data, err := os.ReadFile(o.ClientCA)
		if err != nil {
			return fmt.Errorf("broker TLS: read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return fmt.Errorf("broker TLS: client CA %s holds no PEM certificate: give the CA certificates that signed the clients' certificates", o.ClientCA)
		}
		b.tls.ClientCAs = pool
		b.tls.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return nil
}

// tlsConfig is the configuration of one TLS listener.
func (b *Broker) tlsConfig(scheme string) *tls.Config {
	c := b.tls.Clone()
	if scheme == WSS {
		// Websocket upgrades need HTTP/1.1; gorilla cannot upgrade over h2.
		c.NextProtos = []string{"http/1.1"}
	}
	if b.opts.TLSConfig != nil {
		b.opts.TLSConfig(scheme, c)
	}
	return c
}

// Start binds every listener and serves; it returns once all are bound.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.started {
		return errors.New("broker: Start called twice or after Close")
	}
	b.started = true
	planned := []struct{ scheme, addr string }{
		{MQTT, b.opts.Listen}, {MQTTS, b.opts.TLSListen}, {WS, b.opts.WSListen}, {WSS, b.opts.WSSListen},
	}
	var bound []*netListener
	for _, p := range planned {
		if p.addr == "" {
			continue
		}
		l, err := b.listen(p.scheme, p.addr)
		if err != nil {
			for _, l := range bound {
				l.ln.Close()
			}
			return err
		}
		bound = append(bound, l)
	}
	for _, l := range bound {
		b.ln = append(b.ln, l)
		b.listeners = append(b.listeners, Listener{Scheme: l.id, Addr: l.ln.Addr().String()})
		go l.serve(b.server)
	}
	return nil
}

// listen binds one listener.
func (b *Broker) listen(scheme, addr string) (*netListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errs.New(errs.Usage, &ListenError{Scheme: scheme, Addr: addr, Err: err})
	}
	switch scheme {
	case MQTTS:
		ln = tls.NewListener(ln, b.tlsConfig(scheme))
	case WSS:
		ln = newWSListener(tls.NewListener(ln, b.tlsConfig(scheme)), b.opts.Authorize, b.log, b.opts.Verbose)
	case WS:
		ln = newWSListener(ln, b.opts.Authorize, b.log, b.opts.Verbose)
	}
	return newNetListener(scheme, ln, b.conns), nil
}

// Listeners lists the bound listeners in the order mqtt, mqtts, ws, wss.
func (b *Broker) Listeners() []Listener {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Listener(nil), b.listeners...)
}

// URL is the URL of the listener of a scheme, "" when it is off.
func (b *Broker) URL(scheme string) string {
	for _, l := range b.Listeners() {
		if l.Scheme == scheme {
			return l.URL()
		}
	}
	return ""
}

// CAFile is the generated CA certificate clients should trust, "" when the
// certificates were given or no TLS listener is on.
func (b *Broker) CAFile() string { return b.caFile }

// Publish delivers a message from inside the process, as a client would
// publish it (no hooks are asked about the publish itself; deliveries are
// still checked with OnACLCheck).
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if !validTopic(topic) {
		return fmt.Errorf("publish: invalid topic name %q", topic)
	}
	if qos > 2 {
		return fmt.Errorf("publish: QoS %d", qos)
	}
	b.server.publish(b.server.inline, &message{topic: topic, payload: payload, qos: min(qos, b.server.caps.MaximumQoS), retain: retain})
	return nil
}

// Close stops the listeners, disconnects every client (0x8B server
// shutting down) and waits for their connections, at most CloseTimeout
// (default 2 s) plus one second; it then reports what did not end. It may
// be called more than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	lns := b.ln
	b.mu.Unlock()
	for _, l := range lns {
		l.close()
	}
	d := b.opts.CloseTimeout
	if d <= 0 {
		d = 2 * time.Second
	}
	err := b.server.close(d)
	for _, h := range b.opts.Hooks {
		if st, ok := h.(Stopper); ok {
			st.Stop()
		}
	}
	return err
}
