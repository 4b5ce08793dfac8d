package e2e

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/mochi-mqtt/server/v2/packets"
)

// seedPolicy is the seed sample's policy (docs/AWS-IOT.md).
const seedPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/test/topic"]},
 {"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/test/topic"]},
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/test-*"]}]}`

// world is the PKI of a test and, once started, the emulator.
type world struct {
	dir          string
	clientCA     *testpki.CA
	serverCA     *testpki.CA
	caFile       string // the server's CA, for --ca-file
	clientCAFile string
	certFile     string // the server's certificate and key
	keyFile      string
	host         string // the listeners' address; "" is 127.0.0.1
	tlsListen    string // the TLS listener's host:port; "": host:0

	b    *broker.Broker
	logs *syncBuffer
	subs *subWatch
}

// newWorld makes the PKI: a CA for devices and one for the server.
func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), clientCA: testpki.NewCA(t, "device CA"), serverCA: testpki.NewCA(t, "server CA"), logs: &syncBuffer{}}
	w.caFile = testpki.Write(t, w.dir, "server-ca.pem", w.serverCA.PEM)
	w.clientCAFile = testpki.Write(t, w.dir, "device-ca.pem", w.clientCA.PEM)
	w.certFile, w.keyFile = w.serverCA.Server(t, "127.0.0.1", "localhost").Files(t, w.dir, "server")
	return w
}

var serial atomic.Int64

// device issues a device certificate and writes it.
func (w *world) device(t *testing.T, kt testpki.KeyType) (leaf *testpki.Leaf, certFile, keyFile string) {
	t.Helper()
	n := serial.Add(1)
	leaf = w.clientCA.Client(t, fmt.Sprintf("device-%d", n), testpki.Options{KeyType: kt})
	certFile, keyFile = leaf.Files(t, w.dir, fmt.Sprintf("device-%d", n))
	return leaf, certFile, keyFile
}

// start runs the broker in-process with the emulation on port-0 TLS and
// secure websocket listeners.
func (w *world) start(t *testing.T, cfg iot.Config) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(w.logs, nil))
	cfg.Logger = log
	e, err := iot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := w.host
	if host == "" {
		host = "127.0.0.1"
	}
	tlsListen := w.tlsListen
	if tlsListen == "" {
		tlsListen = host + ":0"
	}
	o := broker.Options{
		TLSListen: tlsListen, WSSListen: host + ":0",
		TLSCert: w.certFile, TLSKey: w.keyFile, ClientCA: w.clientCAFile,
		Home: w.dir, Logger: log,
	}
	e.Apply(&o)
	w.subs = newSubWatch()
	o.Hooks = append(o.Hooks, w.subs)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	w.b = b
	t.Cleanup(func() {
		b.Close()
		if t.Failed() {
			t.Logf("emulator log:\n%s", w.logs.String())
		}
	})
}

// port is the port of a listener (broker.MQTTS or broker.WSS).
func (w *world) port(scheme string) string {
	u := w.b.URL(scheme)
	return u[strings.LastIndex(u, ":")+1:]
}

// hasLog fails unless a line of the emulator's log holds every part.
func (w *world) hasLog(t *testing.T, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(w.logs.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no emulator log line with %q", parts)
}

func mustParse(t *testing.T, js string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// subWatch is a test hook telling when a client's subscription is granted,
// so a publisher starts only once the subscriber listens.
type subWatch struct {
	broker.HookBase
	mu      sync.Mutex
	granted map[string]bool   // client + " " + filter
	alpn    map[string]string // client → negotiated ALPN protocol
	version map[string]byte   // client → CONNECT protocol level (4: 3.1.1, 5)
	changed chan struct{}
}

func newSubWatch() *subWatch {
	return &subWatch{granted: map[string]bool{}, alpn: map[string]string{}, version: map[string]byte{}, changed: make(chan struct{})}
}

// mqttVersion is the protocol level of a subscriber's CONNECT.
func (s *subWatch) mqttVersion(client string) byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version[client]
}

// protocol is the ALPN protocol a subscriber's TLS connection negotiated.
func (s *subWatch) protocol(client string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alpn[client]
}

func (s *subWatch) ID() string { return "e2e-sub-watch" }

func (s *subWatch) Provides(b byte) bool { return b == broker.OnSubscribed }

func (s *subWatch) OnSubscribed(cl *broker.Client, pk packets.Packet, codes []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		s.alpn[cl.ID] = tc.ConnectionState().NegotiatedProtocol
	}
	s.version[cl.ID] = cl.Properties.ProtocolVersion
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < 0x80 {
			s.granted[cl.ID+" "+f.Filter] = true
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// await waits until client holds filter, failing early when p exits.
func (s *subWatch) await(t *testing.T, p *proc, client, filter string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		s.mu.Lock()
		ok, ch := s.granted[client+" "+filter], s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-p.done:
			t.Fatalf("iotctl %s exited %d before subscribing\nstderr: %s", strings.Join(p.args, " "), p.code, p.stderr.String())
		case <-deadline:
			t.Fatalf("%s did not subscribe to %s within %s\nstderr: %s", client, filter, wait, p.stderr.String())
		}
	}
}

var ids atomic.Int64

// roundTrip runs `iotctl sub -C 1` and, once it is subscribed, `iotctl pub
// -q 1` on test/topic, both with the method's args and env, and checks
// the message came through. It returns the subscriber's client ID.
func (w *world) roundTrip(t *testing.T, env []string, args ...string) string {
	t.Helper()
	n := ids.Add(1)
	subID, pubID := fmt.Sprintf("test-sub-%d", n), fmt.Sprintf("test-pub-%d", n)
	msg := fmt.Sprintf("hello %d", n)
	sub := iotctl(t, env, append([]string{"sub", "-t", "test/topic", "-q", "1", "-C", "1", "-W", "50s", "--client-id", subID}, args...)...)
	w.subs.await(t, sub, subID, "test/topic")
	run(t, env, 0, append([]string{"pub", "-t", "test/topic", "-q", "1", "-m", msg, "--client-id", pubID}, args...)...)
	sub.expect(t, 0)
	if got := sub.stdout.String(); got != msg+"\n" {
		t.Errorf("sub printed %q, want %q", got, msg+"\n")
	}
	return subID
}

// refused runs `iotctl pub -q 1` and checks the exit code; it returns
// the process for more checks of its stderr.
func refused(t *testing.T, env []string, want []int, args ...string) *proc {
	t.Helper()
	n := ids.Add(1)
	p := iotctl(t, env, append([]string{"pub", "-t", "test/topic", "-q", "1", "-m", "x", "--client-id", fmt.Sprintf("test-r-%d", n)}, args...)...)
	p.expect(t, want...)
	t.Logf("refused as expected (exit %d): %s", p.code, strings.TrimSpace(p.stderr.String()))
	return p
}
