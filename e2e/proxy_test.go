package e2e

import (
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
