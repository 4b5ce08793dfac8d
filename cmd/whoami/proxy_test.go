package whoami

import (
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
)

// whoami says which proxy the connection goes through and where that came
// from, in text and JSON, the password masked.
func TestProxyReported(t *testing.T) {
	const secret = "s3cret-proxy-pw"
	base := []string{"--endpoint", "abc-ats.iot.us-east-1.amazonaws.com", "--authorizer-name", "myAuth", "--auth", "custom"}
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		text      string
		url, from string
		note      string
	}{
		{"HTTPS_PROXY", map[string]string{"HTTPS_PROXY": "http://bob:" + secret + "@proxy.example:3128", "HTTP_PROXY": "http://other:1"}, nil,
			"http://bob:****@proxy.example:3128 (from HTTPS_PROXY)", "http://bob:****@proxy.example:3128", "HTTPS_PROXY", ""},
		{"all_proxy", map[string]string{"all_proxy": "socks5h://bob:" + secret + "@socks.example"}, nil,
			"socks5h://bob:****@socks.example (from all_proxy)", "socks5h://bob:****@socks.example", "all_proxy", ""},
		{"--proxy", map[string]string{"HTTPS_PROXY": "http://p:3128"}, []string{"--proxy", "socks5://u:" + secret + "@s:1080"},
			"socks5://u:****@s:1080 (from --proxy)", "socks5://u:****@s:1080", "--proxy", ""},
		{"IOTCTL_PROXY", map[string]string{"IOTCTL_PROXY": "http://u:" + secret + "@p:8080"}, nil,
			"http://u:****@p:8080 (from IOTCTL_PROXY)", "http://u:****@p:8080", "IOTCTL_PROXY", ""},
		{"NO_PROXY", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".amazonaws.com"}, nil,
			"none (NO_PROXY matches abc-ats.iot.us-east-1.amazonaws.com)", "", "none", "NO_PROXY matches abc-ats.iot.us-east-1.amazonaws.com"},
		{"--no-proxy", map[string]string{"HTTPS_PROXY": "http://p:3128"}, []string{"--no-proxy"},
			"none (--no-proxy)", "", "none", "--no-proxy"},
		{"nothing", nil, nil, "none (no proxy set)", "", "none", "no proxy set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append(append([]string{"whoami", "--offline"}, base...), tc.args...)
			r := mustRun(t, args...)
			if !strings.Contains(r.out, "  proxy:                    "+tc.text+"\n") {
				t.Errorf("text: want proxy %q:\n%s", tc.text, r.out)
			}
			r = mustRun(t, append(args, "-o", "json")...)
			m := decode(t, r.out)
			if field(m, "proxy", "source") != tc.from || (tc.url != "" && field(m, "proxy", "url") != tc.url) || (tc.note != "" && field(m, "proxy", "note") != tc.note) {
				t.Errorf("json proxy: %v", field(m, "proxy"))
			}
			if strings.Contains(r.out+r.errOut, secret) {
				t.Errorf("the proxy password is shown:\n%s%s", r.out, r.errOut)
			}
		})
	}

	t.Run("bad variable", func(t *testing.T) {
		isolate(t)
		t.Setenv("HTTPS_PROXY", "ftp://u:"+secret+"@p:21")
		r := run(t, append(base, "whoami", "--offline")...)
		if r.code() != 2 || !strings.Contains(r.err.Error(), "HTTPS_PROXY=ftp://u:****@p:21: scheme ftp:// is not supported") || strings.Contains(r.err.Error(), secret) {
			t.Errorf("exit %d: %v", r.code(), r.err)
		}
	})
}

// whoami connects through a real SOCKS5 proxy and says so; --debug names
// it too, password masked.
func TestProxyConnect(t *testing.T) {
	isolate(t)
	w := startWorld(t, nil)
	_, cert, key := w.issue(t, certOptions{cn: "thing-proxy"})
	ms := testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "u", Pass: "socks-pw-secret"})
	proxyURL := "socks5h://u:socks-pw-secret@" + ms.Addr()
	r := mustRun(t, "--endpoint", w.addr(broker.MQTTS), "--cert", cert, "--key", key, "--ca-file", w.caFile, "--proxy", proxyURL, "--debug", "whoami")
	shown := "socks5h://u:****@" + ms.Addr() + " (from --proxy)"
	if !strings.Contains(r.out, "proxy:                    "+shown) || !strings.Contains(r.out, "CONNACK") {
		t.Errorf("stdout:\n%s", r.out)
	}
	if !strings.Contains(r.errOut, "-> PROXY "+shown) {
		t.Errorf("--debug does not name the proxy:\n%s", r.errOut)
	}
	if strings.Contains(r.out+r.errOut, "socks-pw-secret") {
		t.Errorf("the proxy password is shown:\n%s\n%s", r.out, r.errOut)
	}
	if !ms.WaitTunnels(1, 10*time.Second) {
		t.Errorf("microsocks opened no tunnel")
	}
}
