package session

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
)

// roundTrip connects with args, subscribes, publishes one QoS 1 message
// and waits for it.
func roundTrip(t *testing.T, args ...string) {
	t.Helper()
	col := newCollector()
	s := dialSession(t, Options{Handler: col.handle}, args...)
	if _, err := s.Subscribe(context.Background(), []Subscription{{Filter: "p", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), &Message{Topic: "p", Payload: []byte("x"), QoS: 1}, nil); err != nil {
		t.Fatal(err)
	}
	col.wait(t, 1, 10*time.Second)
}

// connectErr connects once with args and returns the error.
func connectErr(t *testing.T, args ...string) error {
	t.Helper()
	st := testenv.Settings(t, append(args, "--connect-timeout", "10s")...)
	s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if err == nil {
		s.Close(context.Background(), 0)
		t.Fatal("connected")
	}
	t.Log(err)
	return err
}

// noProxyEnv clears the proxy variables for a test.
func noProxyEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "IOTCTL_PROXY", "IOTCTL_NO_PROXY"} {
		t.Setenv(k, "")
	}
}

// Every transport goes through a real SOCKS5 server (microsocks), with
// socks5:// and socks5h://, and each connection is one tunnel it opened.
func TestThroughSOCKS5(t *testing.T) {
	noProxyEnv(t)
	b := testenv.StartBroker(t, broker.Options{TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0", Home: t.TempDir()})
	ms := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "u", Pass: "pw-socks"})
	tunnels := 0
	for _, ps := range []string{"socks5", "socks5h"} {
		for _, scheme := range []string{broker.MQTT, broker.MQTTS, broker.WS, broker.WSS} {
			t.Run(ps+" "+scheme, func(t *testing.T) {
				args := []string{"--endpoint", b.URL(scheme), "--proxy", ps + "://u:pw-socks@" + ms.Addr()}
				if scheme == broker.MQTTS || scheme == broker.WSS {
					args = append(args, "--ca-file", b.CAFile())
				}
				roundTrip(t, args...)
				tunnels++
				if !ms.WaitTunnels(tunnels, 10*time.Second) || ms.Tunnels() != tunnels {
					t.Errorf("microsocks opened %d tunnels, want %d", ms.Tunnels(), tunnels)
				}
			})
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		err := connectErr(t, "--endpoint", b.URL(broker.MQTT), "--proxy", "socks5://u:wrongpass@"+ms.Addr())
		if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "socks5://u:****@"+ms.Addr()) ||
			!strings.Contains(err.Error(), "refused the user and password") || strings.Contains(err.Error(), "wrongpass") {
			t.Errorf("got %v (%v)", err, errs.KindOf(err))
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		err := connectErr(t, "--endpoint", b.URL(broker.MQTT), "--proxy", "socks5h://"+ms.Addr())
		if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "wants a user and password") {
			t.Errorf("got %v (%v)", err, errs.KindOf(err))
		}
	})
	t.Run("proxy down", func(t *testing.T) {
		err := connectErr(t, "--endpoint", b.URL(broker.MQTT), "--proxy", "socks5://u:pw-socks@127.0.0.1:"+strconv.Itoa(testpeer.FreePort(t)))
		if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "pw-socks") {
			t.Errorf("got %v (%v)", err, errs.KindOf(err))
		}
	})
	t.Run("target down", func(t *testing.T) {
		err := connectErr(t, "--endpoint", "mqtt://127.0.0.1:"+strconv.Itoa(testpeer.FreePort(t)), "--proxy", "socks5://u:pw-socks@"+ms.Addr())
		if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "could not connect to 127.0.0.1:") {
			t.Errorf("got %v (%v)", err, errs.KindOf(err))
		}
	})
}

// socks5h:// sends the endpoint's name to the proxy; socks5:// resolves
// it here and sends an address. microsocks logs the target as it got it.
func TestSOCKS5Resolution(t *testing.T) {
	noProxyEnv(t)
	b := testenv.StartBroker(t, broker.Options{Home: t.TempDir()})
	port := portOf(t, b.URL(broker.MQTT))
	forwardIPv6Loopback(t, port)
	ms := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{})
	ep := "mqtt://localhost:" + strconv.Itoa(port)

	roundTrip(t, "--endpoint", ep, "--proxy", "socks5h://"+ms.Addr())
	if !ms.WaitTunnels(1, 10*time.Second) || !strings.Contains(ms.Log(), "connected to localhost:"+strconv.Itoa(port)) {
		t.Errorf("socks5h: microsocks did not get the name:\n%s", ms.Log())
	}
	roundTrip(t, "--endpoint", ep, "--proxy", "socks5://"+ms.Addr())
	if !ms.WaitTunnels(2, 10*time.Second) || strings.Count(ms.Log(), "connected to localhost:") != 1 {
		t.Errorf("socks5: microsocks got the name, not an address:\n%s", ms.Log())
	}

	// A name nothing resolves: socks5:// fails here, socks5h:// at the
	// proxy, which proves the name went there unresolved.
	const bogus = "mqtt://iotctl-no-such-host.invalid:1883"
	err := connectErr(t, "--endpoint", bogus, "--proxy", "socks5://"+ms.Addr())
	if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "cannot resolve host iotctl-no-such-host.invalid here") {
		t.Errorf("socks5 with a bogus name: %v", err)
	}
	err = connectErr(t, "--endpoint", bogus, "--proxy", "socks5h://"+ms.Addr())
	if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "proxy socks5h://"+ms.Addr()+" could not connect to iotctl-no-such-host.invalid:1883") {
		t.Errorf("socks5h with a bogus name: %v", err)
	}
}

// forwardIPv6Loopback forwards [::1]:port to 127.0.0.1:port, where there
// is an IPv6 loopback, for a SOCKS server that resolves localhost to ::1
// first.
func forwardIPv6Loopback(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		return
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					return
				}
				defer up.Close()
				go func() { copyClose(up, c) }()
				copyClose(c, up)
			}()
		}
	}()
}

func copyClose(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
}

// Real mosquitto through microsocks, no auth, both schemes.
func TestSOCKS5Mosquitto(t *testing.T) {
	noProxyEnv(t)
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	ms := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{})
	for i, ps := range []string{"socks5", "socks5h"} {
		roundTrip(t, "--endpoint", m.URL(), "--proxy", ps+"://"+ms.Addr())
		if !ms.WaitTunnels(i+1, 10*time.Second) {
			t.Errorf("%s: microsocks opened %d tunnels, want %d", ps, ms.Tunnels(), i+1)
		}
	}
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback:
// the proxy variables never apply to loopback targets, so the tests that
// check them need a broker on another address.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("no interface addresses: %v", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			if l, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0")); err == nil {
				l.Close()
				return n.IP.String()
			}
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address to run a broker on")
	return ""
}

// The proxy variables, end to end: HTTPS_PROXY carries TLS and wss,
// HTTP_PROXY plain and ws (a real tinyproxy, counting its CONNECTs),
// ALL_PROXY either (a real microsocks, counting its tunnels); NO_PROXY,
// --no-proxy and an empty --proxy connect directly; --proxy wins over them.
func TestProxyFromEnvironment(t *testing.T) {
	noProxyEnv(t)
	ip := nonLoopbackIP(t)
	b := testenv.StartBroker(t, broker.Options{Listen: ip + ":0", TLSListen: ip + ":0", WSListen: ip + ":0", WSSListen: ip + ":0", Home: t.TempDir()})
	var ports []int
	for _, s := range []string{broker.MQTT, broker.MQTTS, broker.WS, broker.WSS} {
		ports = append(ports, portOf(t, b.URL(s)))
	}
	tp := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "u", Pass: "pw-http", ConnectPorts: ports})
	ms := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "u", Pass: "pw-socks"})
	connects := func(url string) int {
		return strings.Count(tp.Log(), "CONNECT "+url[strings.Index(url, "://")+3:]+" ")
	}
	args := func(scheme string, extra ...string) []string {
		a := []string{"--endpoint", b.URL(scheme)}
		if scheme == broker.MQTTS || scheme == broker.WSS {
			// The test certificate names localhost and 127.0.0.1 only.
			a = append(a, "--insecure")
		}
		return append(a, extra...)
	}
	const httpProxy = "http://u:pw-http@"

	t.Run("HTTPS_PROXY and HTTP_PROXY", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", httpProxy+tp.Addr())
		t.Setenv("http_proxy", httpProxy+tp.Addr())
		t.Setenv("ALL_PROXY", "socks5://u:pw-socks@"+ms.Addr())
		for _, scheme := range []string{broker.MQTT, broker.MQTTS, broker.WS, broker.WSS} {
			roundTrip(t, args(scheme)...)
			// tinyproxy's log reaches us through a pipe, maybe after the
			// tunnel is in use.
			eventually(func() bool { return connects(b.URL(scheme)) >= 1 })
			if n := connects(b.URL(scheme)); n != 1 {
				t.Errorf("%s: tinyproxy tunnelled %d connections, want 1:\n%s", scheme, n, tp.Log())
			}
		}
		if n := ms.Tunnels(); n != 0 {
			t.Errorf("ALL_PROXY was used %d times though HTTPS_PROXY and HTTP_PROXY are set", n)
		}
	})
	t.Run("ALL_PROXY", func(t *testing.T) {
		t.Setenv("ALL_PROXY", "socks5h://u:pw-socks@"+ms.Addr())
		for i, scheme := range []string{broker.MQTT, broker.WSS} {
			roundTrip(t, args(scheme)...)
			if !ms.WaitTunnels(i+1, 10*time.Second) {
				t.Errorf("%s: microsocks opened %d tunnels, want %d", scheme, ms.Tunnels(), i+1)
			}
		}
	})
	direct := func(t *testing.T, extra ...string) {
		t.Helper()
		before, tunnels := connects(b.URL(broker.MQTTS)), ms.Tunnels()
		roundTrip(t, args(broker.MQTTS, extra...)...)
		if connects(b.URL(broker.MQTTS)) != before || ms.Tunnels() != tunnels {
			t.Errorf("the connection went through a proxy")
		}
	}
	t.Run("NO_PROXY", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", httpProxy+tp.Addr())
		t.Setenv("ALL_PROXY", "socks5://u:pw-socks@"+ms.Addr())
		t.Setenv("no_proxy", "example.com,"+ip)
		direct(t)
	})
	t.Run("--no-proxy", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", httpProxy+tp.Addr())
		direct(t, "--no-proxy")
	})
	t.Run("--proxy ''", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", "http://u:pw@127.0.0.1:1")
		direct(t, "--proxy", "")
	})
	t.Run("--proxy wins", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", "http://u:pw@127.0.0.1:1")
		t.Setenv("NO_PROXY", "*")
		before := connects(b.URL(broker.MQTTS))
		roundTrip(t, args(broker.MQTTS, "--proxy", httpProxy+tp.Addr())...)
		eventually(func() bool { return connects(b.URL(broker.MQTTS)) > before })
		if connects(b.URL(broker.MQTTS)) != before+1 {
			t.Errorf("--proxy was not used")
		}
	})
	t.Run("wrong password from the environment", func(t *testing.T) {
		t.Setenv("ALL_PROXY", "socks5://u:env-wrong@"+ms.Addr())
		err := connectErr(t, args(broker.MQTT)...)
		if errs.KindOf(err) != errs.Connect || strings.Contains(err.Error(), "env-wrong") || !strings.Contains(err.Error(), "refused the user and password") {
			t.Errorf("got %v", err)
		}
	})
}

// eventually polls cond for up to 10 s, for logs that have no event to
// wait on.
func eventually(cond func() bool) {
	for end := time.Now().Add(10 * time.Second); !cond() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
}

// A proxy (SOCKS5 or HTTP) that accepts and never answers costs the
// connect timeout,
// not more: exit 3 naming the timeout.
func TestSilentProxy(t *testing.T) {
	noProxyEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, ps := range []string{"socks5", "socks5h", "http"} {
		start := time.Now()
		st := testenv.Settings(t, "--endpoint", "mqtt://127.0.0.1:1883", "--proxy", ps+"://u:pw-silent@"+l.Addr().String(), "--connect-timeout", "1s")
		_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
		if errs.KindOf(err) != errs.Connect || strings.Contains(err.Error(), "pw-silent") {
			t.Errorf("%s: got %v (%v)", ps, err, errs.KindOf(err))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %s with --connect-timeout 1s", ps, d)
		}
		t.Log(err)
	}
}
