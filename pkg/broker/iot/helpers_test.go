package iot

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/eclipse/paho.golang/packets"
	"github.com/gorilla/websocket"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/policy"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait; never part of an assertion.
const wait = 30 * time.Second

// world is a running emulator with its PKI.
type world struct {
	clientCA *testpki.CA
	serverCA *testpki.CA
	roots    *x509.CertPool // trusts the server
	b        *broker.Broker
	e        *Emulator
	logs     *logBuffer
}

// startWorld runs a broker with every listener on port 0 and the emulator
// configured by cfg (Logger is set here).
func startWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	return startWorldWith(t, cfg, nil)
}

// startWorldWith lets setup issue certificates of the client CA and
// complete the configuration before the emulator starts.
func startWorldWith(t *testing.T, cfg Config, setup func(*testpki.CA, *Config)) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{clientCA: testpki.NewCA(t, "client CA"), serverCA: testpki.NewCA(t, "server CA"), logs: &logBuffer{t: t}}
	if setup != nil {
		setup(w.clientCA, &cfg)
	}
	w.roots = x509.NewCertPool()
	w.roots.AddCert(w.serverCA.Cert)
	srv := w.serverCA.Server(t, "127.0.0.1", "localhost")
	certFile, keyFile := srv.Files(t, dir, "server")
	cfg.Logger = slog.New(slog.NewTextHandler(w.logs, nil))
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.e = e
	o := broker.Options{
		Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0",
		TLSCert: certFile, TLSKey: keyFile, ClientCA: testpki.Write(t, dir, "client-ca.pem", w.clientCA.PEM),
		Home: dir, Logger: cfg.Logger,
	}
	e.Apply(&o)
	b := testenv.StartBroker(t, o)
	w.b = b
	return w
}

func (w *world) addr(scheme string) string {
	_, a, _ := strings.Cut(w.b.URL(scheme), "://")
	return a
}

// logBuffer collects the emulator's log and shows it in the test log.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// has fails unless the log has a line holding every part.
func (l *logBuffer) has(t *testing.T, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(l.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no log line with %q in:\n%s", parts, l.String())
}

// doc parses a policy document.
func doc(t *testing.T, js string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// allow is a policy allowing actions on resources (short forms).
func allow(t *testing.T, action string, resources ...string) *policy.Document {
	t.Helper()
	var arns []string
	for _, r := range resources {
		arns = append(arns, `"`+policy.ExpandResource(r, DefaultRegion, DefaultAccount)+`"`)
	}
	return doc(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"`+action+`","Resource":[`+strings.Join(arns, ",")+`]}]}`)
}

// client is a raw MQTT 5 client: packets in, packets out.
type client struct {
	t    *testing.T
	conn net.Conn
}

func newClient(t *testing.T, c net.Conn) *client {
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c}
}

func dialTCP(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, c)
}

// dialTLS connects to the TLS listener with a client certificate (nil for
// none) and ALPN protocols.
func (w *world) dialTLS(t *testing.T, leaf *testpki.Leaf, alpn ...string) (*client, *tls.Conn) {
	t.Helper()
	cfg := &tls.Config{RootCAs: w.roots, ServerName: "localhost", NextProtos: alpn}
	if leaf != nil {
		cfg.Certificates = []tls.Certificate{leaf.TLSCertificate()}
	}
	c, err := tls.Dial("tcp", w.addr(broker.MQTTS), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, c), c
}

func (c *client) send(p io.WriterTo) {
	c.t.Helper()
	if _, err := p.WriteTo(c.conn); err != nil {
		c.t.Fatalf("send %T: %v", p, err)
	}
}

// next reads a packet, or returns the read error.
func (c *client) next() (*packets.ControlPacket, error) {
	c.conn.SetReadDeadline(time.Now().Add(wait))
	return packets.ReadPacket(c.conn)
}

func (c *client) read() *packets.ControlPacket {
	c.t.Helper()
	p, err := c.next()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// connect sends CONNECT (MQTT 5) and returns the CONNACK.
func (c *client) connect(id string, mod ...func(*packets.Connect)) *packets.Connack {
	c.t.Helper()
	cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: id, CleanStart: true, KeepAlive: 60}
	for _, m := range mod {
		m(cp)
	}
	c.send(cp)
	p := c.read()
	ack, ok := p.Content.(*packets.Connack)
	if !ok {
		c.t.Fatalf("got %s, want CONNACK", p)
	}
	return ack
}

// mustConnect connects and fails unless the CONNACK is a success.
func (c *client) mustConnect(id string, mod ...func(*packets.Connect)) *packets.Connack {
	c.t.Helper()
	ack := c.connect(id, mod...)
	if ack.ReasonCode != 0 {
		c.t.Fatalf("CONNACK 0x%02X %q, want success", ack.ReasonCode, reasonString(ack.Properties))
	}
	return ack
}

// publish1 publishes at QoS 1 and returns the PUBACK reason code.
func (c *client) publish1(id uint16, topic string, retain bool) byte {
	c.t.Helper()
	c.send(&packets.Publish{PacketID: id, QoS: 1, Topic: topic, Retain: retain, Payload: []byte("m"), Properties: &packets.Properties{}})
	p := c.read()
	ack, ok := p.Content.(*packets.Puback)
	if !ok || ack.PacketID != id {
		c.t.Fatalf("got %s, want PUBACK %d", p, id)
	}
	return ack.ReasonCode
}

// subscribe sends one SUBSCRIBE and returns the SUBACK's codes.
func (c *client) subscribe(id uint16, filters ...string) []byte {
	c.t.Helper()
	s := &packets.Subscribe{PacketID: id, Properties: &packets.Properties{}}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packets.SubOptions{Topic: f, QoS: 1})
	}
	c.send(s)
	p := c.read()
	ack, ok := p.Content.(*packets.Suback)
	if !ok || ack.PacketID != id {
		c.t.Fatalf("got %s, want SUBACK %d", p, id)
	}
	return ack.Reasons
}

// disconnected reads until the server's DISCONNECT and returns its code.
func (c *client) disconnected() byte {
	c.t.Helper()
	for {
		p, err := c.next()
		if err != nil {
			c.t.Fatalf("connection closed (%v) without DISCONNECT", err)
		}
		if d, ok := p.Content.(*packets.Disconnect); ok {
			if _, err := c.next(); err == nil {
				c.t.Errorf("connection still open after DISCONNECT")
			}
			return d.ReasonCode
		}
	}
}

func reasonString(p *packets.Properties) string {
	if p == nil {
		return ""
	}
	return p.ReasonString
}

// wsConn adapts a websocket to net.Conn for the raw client.
type wsConn struct {
	*websocket.Conn
	r io.Reader
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// dialWS upgrades to url (ws:// or wss://) and returns the client, or the
// HTTP status of a refused upgrade.
func (w *world) dialWS(t *testing.T, url string) (*client, int) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: w.roots, ServerName: "localhost"}, Subprotocols: []string{"mqtt"}}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			return nil, resp.StatusCode
		}
		t.Fatalf("websocket %s: %v", url, err)
	}
	return newClient(t, &wsConn{Conn: ws}), 101
}
