package e2e

import (
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// TestProxy reaches the emulator through a real tinyproxy with Basic auth
// and a real microsocks with user/password auth.
func TestProxy(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test authorizers are sh command lines")
	}
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	w.start(t, iot.Config{
		Policies:    append(certPolicies(t, leaf), iot.Policy{Principal: "akid:AKIAE2EPROXY", Doc: mustParse(t, seedPolicy)}),
		Credentials: []iot.Credential{{AccessKeyID: "AKIAE2EPROXY", SecretAccessKey: "proxySecret"}},
		Authorizers: []iot.Authorizer{{Name: "allowAuth", Command: authorizerCmd(t, w.dir, "allow",
			map[string]any{"isAuthenticated": true, "principalId": "proxyUser", "policyDocuments": []string{seedPolicy}})}},
	})
	tlsPort, wssPort := w.port(broker.MQTTS), w.port(broker.WSS)
	var ports []int
	for _, p := range []string{tlsPort, wssPort} {
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	proxy := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "e2e", Pass: "proxy-pass", ConnectPorts: ports})
	good := "http://e2e:proxy-pass@" + proxy.Addr()
	socks := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "e2e", Pass: "socks-pass"})

	methods := []struct {
		name string
		env  []string
		args []string
	}{
		{"mtls", nil, []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", tlsPort}},
		{"sigv4", awsEnv("AKIAE2EPROXY", "proxySecret", ""), []string{"--auth", "sigv4", "--endpoint", "wss://127.0.0.1:" + wssPort, "--region", "us-east-1", "--ca-file", w.caFile}},
		{"custom", nil, []string{"--auth", "custom", "--authorizer-name", "allowAuth", "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", tlsPort}},
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			w.roundTrip(t, m.env, append(m.args, "--proxy", good)...)
		})
		// tinyproxy answers 407 without credentials and 401 (not 407) to
		// wrong ones; both are proxy refusals: exit 3, the status named.
		t.Run(m.name+" wrong proxy password", func(t *testing.T) {
			p := refused(t, m.env, []int{3}, append(m.args, "--proxy", "http://e2e:badPass123@"+proxy.Addr())...)
			if e := p.stderr.String(); !strings.Contains(e, "401") && !strings.Contains(e, "407") {
				t.Errorf("stderr does not name the proxy's 401/407: %s", e)
			}
			if strings.Contains(p.stderr.String(), "badPass123") {
				t.Errorf("stderr shows the proxy password: %s", p.stderr.String())
			}
		})
		t.Run(m.name+" socks5h", func(t *testing.T) {
			before := socks.Tunnels()
			w.roundTrip(t, m.env, append(m.args, "--proxy", "socks5h://e2e:socks-pass@"+socks.Addr())...)
			if !socks.WaitTunnels(before+1, 10*time.Second) {
				t.Errorf("microsocks opened %d tunnels, want %d", socks.Tunnels(), before+1)
			}
		})
		t.Run(m.name+" socks5 wrong password", func(t *testing.T) {
			p := refused(t, m.env, []int{3}, append(m.args, "--proxy", "socks5://e2e:badSocks123@"+socks.Addr())...)
			if e := p.stderr.String(); !strings.Contains(e, "socks5://e2e:****@"+socks.Addr()+" refused the user and password") || strings.Contains(e, "badSocks123") {
				t.Errorf("stderr: %s", e)
			}
		})
		t.Run(m.name+" no proxy credentials", func(t *testing.T) {
			p := refused(t, m.env, []int{3}, append(m.args, "--proxy", "http://"+proxy.Addr())...)
			if !strings.Contains(p.stderr.String(), "407") {
				t.Errorf("stderr does not name the 407: %s", p.stderr.String())
			}
		})
	}
}

// TestProxyFromEnvironment is the case: HTTPS_PROXY=… iotctl pub
// --auth sigv4 goes through the proxy (a real tinyproxy, whose log shows
// the CONNECT), ALL_PROXY=socks5://… too (a real microsocks), NO_PROXY
// and --no-proxy do not. The proxy variables never apply to loopback, so
// the emulator listens on this machine's other address.
func TestProxyFromEnvironment(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test authorizers are sh command lines")
	}
	ip := nonLoopbackIP(t)
	w := newWorld(t)
	w.host = ip
	w.certFile, w.keyFile = w.serverCA.Server(t, ip).Files(t, w.dir, "server-ip")
	leaf, cert, key := w.device(t, testpki.EC)
	w.start(t, iot.Config{
		Policies:    append(certPolicies(t, leaf), iot.Policy{Principal: "akid:AKIAE2EENVPROXY", Doc: mustParse(t, seedPolicy)}),
		Credentials: []iot.Credential{{AccessKeyID: "AKIAE2EENVPROXY", SecretAccessKey: "envProxySecret"}},
	})
	tlsPort, wssPort := w.port(broker.MQTTS), w.port(broker.WSS)
	var ports []int
	for _, p := range []string{tlsPort, wssPort} {
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	tp := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "e2e", Pass: "env-proxy-pass", ConnectPorts: ports})
	socks := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "e2e", Pass: "env-socks-pass"})
	sigv4 := []string{"--auth", "sigv4", "--endpoint", "wss://" + net.JoinHostPort(ip, wssPort), "--region", "us-east-1", "--ca-file", w.caFile}
	mtls := []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", ip, "--port", tlsPort}
	connects := func() int { return strings.Count(tp.Log(), "CONNECT "+net.JoinHostPort(ip, wssPort)+" ") }
	httpsProxy := "HTTPS_PROXY=http://e2e:env-proxy-pass@" + tp.Addr()
	aws := awsEnv("AKIAE2EENVPROXY", "envProxySecret", "")

	t.Run("HTTPS_PROXY sigv4", func(t *testing.T) {
		w.roundTrip(t, append(aws, httpsProxy), sigv4...)
		for end := time.Now().Add(10 * time.Second); connects() < 2 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := connects(); n != 2 {
			t.Errorf("tinyproxy tunnelled %d connections (sub and pub), want 2:\n%s", n, tp.Log())
		}
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		before := connects()
		w.roundTrip(t, append(aws, httpsProxy, "NO_PROXY=example.com,"+ip), sigv4...)
		if connects() != before {
			t.Errorf("NO_PROXY=%s still went through the proxy", ip)
		}
	})
	t.Run("--no-proxy", func(t *testing.T) {
		before := connects()
		w.roundTrip(t, append(aws, httpsProxy), append(sigv4, "--no-proxy")...)
		if connects() != before {
			t.Errorf("--no-proxy still went through the proxy")
		}
	})
	t.Run("ALL_PROXY socks5 mtls", func(t *testing.T) {
		before := socks.Tunnels()
		w.roundTrip(t, []string{"all_proxy=socks5://e2e:env-socks-pass@" + socks.Addr()}, mtls...)
		if !socks.WaitTunnels(before+2, 10*time.Second) {
			t.Errorf("microsocks opened %d tunnels, want %d", socks.Tunnels(), before+2)
		}
	})
	t.Run("bad variable", func(t *testing.T) {
		p := refused(t, []string{"HTTPS_PROXY=socks4://e2e:env-secret-4@" + socks.Addr()}, []int{2}, mtls...)
		if e := p.stderr.String(); !strings.Contains(e, "HTTPS_PROXY=socks4://e2e:****@") || strings.Contains(e, "env-secret-4") || strings.Count(e, "\n") != 1 {
			t.Errorf("stderr: %q", e)
		}
	})
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback,
// for a listener the proxy variables apply to.
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
	t.Skip("this machine has no non-loopback IPv4 address to run the emulator on")
	return ""
}
