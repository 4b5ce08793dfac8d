package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/fakepeer"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/errs"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		proxy, host string
		port        int
		want        string // URL.String(); "" for nil
		wantUser    string
		wantPass    string
	}{
		{"", "", 0, "", "", ""},
		{"http://127.0.0.1:8888", "", 0, "http://127.0.0.1:8888", "", ""},
		{"http://127.0.0.1:8888/", "", 0, "http://127.0.0.1:8888", "", ""},
		{"https://proxy.example.com:3129", "", 0, "https://proxy.example.com:3129", "", ""},
		{"http://user:p%40ss:w@proxy:8080", "", 0, "http://user:p%40ss%3Aw@proxy:8080", "user", "p@ss:w"},
		{"proxy.example.com:8080", "", 0, "http://proxy.example.com:8080", "", ""},
		{"http://[::1]:8080", "", 0, "http://[::1]:8080", "", ""},
		{"", "proxy.example.com", 8080, "http://proxy.example.com:8080", "", ""},
		{"", "::1", 3128, "http://[::1]:3128", "", ""},
	} {
		u, err := Parse(tc.proxy, tc.host, tc.port)
		if err != nil {
			t.Errorf("Parse(%q, %q, %d): %v", tc.proxy, tc.host, tc.port, err)
			continue
		}
		if tc.want == "" {
			if u != nil {
				t.Errorf("Parse(%q, %q, %d) = %v, want nil", tc.proxy, tc.host, tc.port, u)
			}
			continue
		}
		if u == nil || u.String() != tc.want {
			t.Errorf("Parse(%q, %q, %d) = %v, want %s", tc.proxy, tc.host, tc.port, u, tc.want)
			continue
		}
		pass, _ := u.User.Password()
		if u.User.Username() != tc.wantUser || pass != tc.wantPass {
			t.Errorf("Parse(%q): user %q pass %q", tc.proxy, u.User.Username(), pass)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "s3cr3t-pw"
	for _, tc := range []struct {
		proxy, host string
		port        int
	}{
		{"socks4://127.0.0.1:1080", "", 0},
		{"ftp://u:" + secret + "@127.0.0.1:21", "", 0},
		{"http://127.0.0.1", "", 0},
		{"http://:8080", "", 0},
		{"http://127.0.0.1:99999", "", 0},
		{"http://127.0.0.1:8080/path", "", 0},
		{"http://u:" + secret + "@127.0.0.1:8080/x?y", "", 0},
		{"http://u:" + secret + "@127.0.0.1:port", "", 0},
		{"http://u:" + secret + "@[::1", "", 0},
		{"http://127.0.0.1:8080", "127.0.0.1", 8080},
		{"", "127.0.0.1", 0},
		{"", "", 8080},
		{"", "127.0.0.1", 70000},
		{"", "user@host", 8080},
		{"http://us%3Aer:" + secret + "@127.0.0.1:8080", "", 0}, // Basic auth cannot carry a colon in the user name
	} {
		_, err := Parse(tc.proxy, tc.host, tc.port)
		if err == nil {
			t.Errorf("Parse(%q, %q, %d): no error", tc.proxy, tc.host, tc.port)
			continue
		}
		if errs.KindOf(err) != errs.Usage {
			t.Errorf("Parse(%q, %q, %d): kind %v: %v", tc.proxy, tc.host, tc.port, errs.KindOf(err), err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Parse(%q): error %q shows the password", tc.proxy, err)
		}
	}
}

// echoServer accepts connections on 127.0.0.1 and echoes what it reads,
// first sending greeting, if any.
func echoServer(t *testing.T, greeting string) (addr string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fakepeer.Serve(t, l, func(_ int, c net.Conn) {
		if greeting != "" {
			c.Write([]byte(greeting))
		}
		io.Copy(c, c)
	})
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port
}

// roundTrip checks the tunnel carries bytes both ways.
func roundTrip(t *testing.T, c net.Conn, greeting string) {
	t.Helper()
	msg := "hello through the tunnel\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	want := greeting + msg
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestTinyproxy(t *testing.T) {
	echo, echoPort := echoServer(t, "")
	withAuth := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "user", Pass: "pass", ConnectPorts: []int{echoPort}})
	open := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{ConnectPorts: []int{echoPort}})
	ctx := context.Background()

	t.Run("basic auth", func(t *testing.T) {
		c, err := Dial(ctx, Config{URL: mustURL(t, "http://user:pass@"+withAuth.Addr())}, echo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "")
	})
	t.Run("no auth needed", func(t *testing.T) {
		c, err := Dial(ctx, Config{URL: mustURL(t, "http://"+open.Addr())}, echo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "")
	})
	t.Run("seed spelling", func(t *testing.T) {
		host, port, _ := net.SplitHostPort(open.Addr())
		n, _ := strconv.Atoi(port)
		u, err := Parse("", host, n)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Dial(ctx, Config{URL: u}, echo)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "")
	})
	for _, tc := range []struct {
		name, url, target string
		mentions          []string
	}{
		// tinyproxy answers a wrong password with 401 (a missing one with 407).
		{"wrong password", "http://user:wrong-secret@" + withAuth.Addr(), echo, []string{"401", "refused CONNECT to " + echo, "check the proxy user and password"}},
		{"no credentials", "http://" + withAuth.Addr(), echo, []string{"407", "user and password"}},
		{"port not allowed", "http://" + open.Addr(), "127.0.0.1:1", []string{"403"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(ctx, Config{URL: mustURL(t, tc.url)}, tc.target)
			if errs.KindOf(err) != errs.Connect {
				t.Fatalf("err = %v (kind %v), want a Connect error", err, errs.KindOf(err))
			}
			t.Log(err)
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "wrong-secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// tlsFront terminates TLS on 127.0.0.1 and forwards the plain bytes to
// backend: an https:// proxy made of tinyproxy.
func tlsFront(t *testing.T, backend string) (addr string, roots *x509.CertPool) {
	t.Helper()
	ca := testpki.NewCA(t, "proxy CA")
	leaf := ca.Server(t, "127.0.0.1", "localhost")
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	fakepeer.Serve(t, l, func(_ int, c net.Conn) {
		b, err := net.Dial("tcp", backend)
		if err != nil {
			return
		}
		defer b.Close()
		done := make(chan struct{})
		go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); close(done) }()
		io.Copy(c, b)
		c.Close()
		<-done
	})
	roots = x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return l.Addr().String(), roots
}

func TestHTTPSProxy(t *testing.T) {
	echo, echoPort := echoServer(t, "")
	tp := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "user", Pass: "pass", ConnectPorts: []int{echoPort}})
	front, roots := tlsFront(t, tp.Addr())
	ctx := context.Background()

	c, err := Dial(ctx, Config{URL: mustURL(t, "https://user:pass@"+front), RootCAs: roots}, echo)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*tls.Conn); !ok {
		t.Errorf("tunnel is a %T, want the *tls.Conn to the proxy", c)
	}
	roundTrip(t, c, "")
	c.Close()

	// The proxy's certificate is checked.
	_, err = Dial(ctx, Config{URL: mustURL(t, "https://user:pass@"+front)}, echo)
	if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("untrusted proxy certificate: err = %v", err)
	}
	// 407 over TLS too.
	_, err = Dial(ctx, Config{URL: mustURL(t, "https://user:bad@"+front), RootCAs: roots}, echo)
	if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "check the proxy user and password") {
		t.Errorf("wrong password: err = %v", err)
	}
}

// fakeProxy answers one CONNECT with reply (written in one piece) and
// then echoes; got receives the request head it read.
func fakeProxy(t *testing.T, reply string, hold <-chan struct{}) (addr string, got <-chan string) {
	t.Helper()
	heads := make(chan string, 1)
	srv := fakepeer.ServeOne(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		heads <- head.String()
		if hold != nil {
			<-hold
			return
		}
		c.Write([]byte(reply))
		io.Copy(c, br)
	})
	return srv.Addr(), heads
}

func TestBytesAfterReplyAreKept(t *testing.T) {
	// The broker's first bytes arrive in the same read as the proxy's reply.
	addr, heads := fakeProxy(t, "HTTP/1.1 200 Connection established\r\nProxy-Agent: fake\r\n\r\nGREETING", nil)
	c, err := Dial(context.Background(), Config{URL: mustURL(t, "http://alice:pw@"+addr)}, "broker.example.com:8883")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "GREETING")
	head := <-heads
	for _, want := range []string{
		"CONNECT broker.example.com:8883 HTTP/1.1\r\n",
		"Host: broker.example.com:8883\r\n",
		"Proxy-Authorization: Basic YWxpY2U6cHc=\r\n", // alice:pw
	} {
		if !strings.Contains(head, want) {
			t.Errorf("request %q lacks %q", head, want)
		}
	}
}

// When the client speaks first (MQTT), bytes behind the 200 can only be
// the proxy's: the dial fails naming the proxy, not the broker.
func TestBytesAfterReplyClientFirst(t *testing.T) {
	addr, _ := fakeProxy(t, "HTTP/1.1 200 Connection established\r\n\r\n<html>junk", nil)
	_, err := Dial(context.Background(), Config{URL: mustURL(t, "http://"+addr), ClientFirst: true}, "broker.example.com:8883")
	if errs.KindOf(err) != errs.Connect || err == nil || !strings.Contains(err.Error(), "proxy "+addr+": 10 bytes (\"<html>junk\") behind its reply") {
		t.Errorf("err = %v (kind %v)", err, errs.KindOf(err))
	}
}

func TestProxyAuthRequired(t *testing.T) {
	addr, _ := fakeProxy(t, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n", nil)
	_, err := Dial(context.Background(), Config{URL: mustURL(t, "http://alice:wrong-secret@"+addr)}, "broker.example.com:8883")
	want := "proxy " + addr + " refused CONNECT to broker.example.com:8883: HTTP/1.1 407 Proxy Authentication Required: check the proxy user and password"
	if errs.KindOf(err) != errs.Connect || err.Error() != want {
		t.Errorf("err = %v (kind %v)\nwant %s", err, errs.KindOf(err), want)
	}
}

func TestNonProxyReplies(t *testing.T) {
	for _, reply := range []string{"SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad"} {
		addr, _ := fakeProxy(t, reply, nil)
		_, err := Dial(context.Background(), Config{URL: mustURL(t, "http://"+addr)}, "b:1")
		if errs.KindOf(err) != errs.Connect {
			t.Errorf("reply %q: err = %v, want a Connect error", reply, err)
		}
		t.Log(err)
	}
}

func TestDialUnreachable(t *testing.T) {
	port := testpeer.FreePort(t)
	_, err := Dial(context.Background(), Config{URL: mustURL(t, "http://u:secret-pw@127.0.0.1:"+strconv.Itoa(port))}, "b:1")
	if errs.KindOf(err) != errs.Connect || strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("err = %v", err)
	}
	t.Log(err)
}

func TestDialCancelAndTimeout(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)

	// Cancelled while waiting for the reply: the cancellation comes back.
	addr, heads := fakeProxy(t, "", hold)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, Config{URL: mustURL(t, "http://"+addr)}, "b:1")
		errc <- err
	}()
	<-heads
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}

	// Config.Timeout bounds a proxy that never answers.
	addr, _ = fakeProxy(t, "", hold)
	_, err := Dial(context.Background(), Config{URL: mustURL(t, "http://"+addr), Timeout: 50 * time.Millisecond}, "b:1")
	if errs.KindOf(err) != errs.Connect || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: err = %v (kind %v)", err, errs.KindOf(err))
	}
}
