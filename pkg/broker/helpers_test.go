package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	"github.com/iotctl/iotctl/internal/testpeer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(stdoutChildEnv) != "" {
		os.Exit(stdoutChild(os.Getenv(stdoutChildEnv)))
	}
	goleak.VerifyTestMain(m)
}

// wait bounds every wait in these tests; generous for a loaded machine
// under -race, never part of an assertion.
const wait = 30 * time.Second

// start starts a broker with a private Home and a logger on the test log.
func start(t *testing.T, o Options) *Broker {
	t.Helper()
	if o.Home == "" {
		o.Home = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// hostPort splits a listener URL into the -h and -p of mosquitto clients.
func hostPort(t *testing.T, url string) (string, string) {
	t.Helper()
	_, addr, _ := strings.Cut(url, "://")
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

// mosquittoSub runs mosquitto_sub and returns its output lines as they come.
func mosquittoSub(t *testing.T, args ...string) <-chan string {
	t.Helper()
	path := testpeer.Require(t, "mosquitto_sub")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto_sub %v stderr: %s", args, stderr.String())
		}
	})
	return lines
}

// mosquittoPub runs mosquitto_pub and returns its error and combined output.
func mosquittoPub(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path := testpeer.Require(t, "mosquitto_pub")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

// next receives one line or fails.
func next(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("subscriber ended early")
		}
		return l
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return ""
}

// caPool reads a PEM CA file.
func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

// dialWS opens a websocket to url with subprotocol mqtt; resp is the
// upgrade response, also on failure.
func dialWS(t *testing.T, url string, roots *x509.CertPool, header http.Header) (*wsConn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: wait,
		TLSClientConfig:  &tls.Config{RootCAs: roots},
	}
	ws, resp, err := d.Dial(url, header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	return newWSConn(ws, ConnInfo{}), resp, nil
}

// client is a paho client on conn, with the messages it receives.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

func connect(t *testing.T, conn *wsConn, id string) *client {
	t.Helper()
	c := &client{msgs: make(chan *paho.Publish, 100)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: id,
		// paho writes a packet in several Writes, and its pinger writes
		// from its own goroutine: one lock per packet.
		Conn: packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				c.msgs <- r.Packet
				return true, nil
			},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("connect %s: reason code %#x", id, ack.ReasonCode)
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			_ = c.Disconnect(&paho.Disconnect{})
			<-c.Done()
		})
	})
	return c
}

func (c *client) receive(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return nil
}

// syncBuffer is a log destination read after the broker is closed.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
