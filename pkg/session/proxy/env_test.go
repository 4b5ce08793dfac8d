package proxy_test

import (
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session/proxy"
)

// The rule: --proxy over the environment; --no-proxy and an empty --proxy
// turn the environment off; HTTPS_PROXY for TLS targets, HTTP_PROXY for
// plain ones, ALL_PROXY for either when its own is unset; upper case
// before lower case; NO_PROXY as httpproxy reads it; loopback never
// proxied from the environment.
func TestRuleFor(t *testing.T) {
	const target = "broker.example.com:8883"
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		secure bool
		target string
		want   string // Choice.String()
	}{
		{"nothing set", nil, nil, true, target, "none (no proxy set)"},
		{"HTTPS_PROXY for TLS", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "HTTP_PROXY": "http://plain:3128"}, true, target, "http://p:3128 (from HTTPS_PROXY)"},
		{"HTTP_PROXY for plain", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "HTTP_PROXY": "http://plain:3128"}, false, "broker.example.com:1883", "http://plain:3128 (from HTTP_PROXY)"},
		{"lower case", nil, map[string]string{"https_proxy": "http://low:3128"}, true, target, "http://low:3128 (from https_proxy)"},
		{"upper case wins", nil, map[string]string{"https_proxy": "http://low:3128", "HTTPS_PROXY": "http://up:3128"}, true, target, "http://up:3128 (from HTTPS_PROXY)"},
		{"HTTP_PROXY not for TLS", nil, map[string]string{"HTTP_PROXY": "http://plain:3128"}, true, target, "none (no proxy set)"},
		{"ALL_PROXY for TLS", nil, map[string]string{"ALL_PROXY": "socks5h://s:1080"}, true, target, "socks5h://s:1080 (from ALL_PROXY)"},
		{"all_proxy for plain", nil, map[string]string{"all_proxy": "socks5://s:1080"}, false, "broker.example.com:1883", "socks5://s:1080 (from all_proxy)"},
		{"HTTPS_PROXY before ALL_PROXY", nil, map[string]string{"ALL_PROXY": "socks5://s:1080", "HTTPS_PROXY": "http://p:3128"}, true, target, "http://p:3128 (from HTTPS_PROXY)"},
		{"no scheme is http", nil, map[string]string{"HTTPS_PROXY": "p:3128"}, true, target, "http://p:3128 (from HTTPS_PROXY)"},
		{"password masked", nil, map[string]string{"HTTPS_PROXY": "http://bob:s3cret@p:3128"}, true, target, "http://bob:****@p:3128 (from HTTPS_PROXY)"},
		{"token alone masked", nil, map[string]string{"HTTPS_PROXY": "http://tok3n@p:3128"}, true, target, "http://****@p:3128 (from HTTPS_PROXY)"},
		{"--proxy token alone masked", []string{"--proxy", "socks5h://tok3n@s:1080"}, nil, true, target, "socks5h://****@s:1080 (from --proxy)"},
		{"NO_PROXY host", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "broker.example.com"}, true, target, "none (NO_PROXY matches broker.example.com)"},
		{"NO_PROXY suffix", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".example.com"}, true, target, "none (NO_PROXY matches broker.example.com)"},
		{"NO_PROXY domain covers subdomains", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "no_proxy": "example.com"}, true, target, "none (no_proxy matches broker.example.com)"},
		{"NO_PROXY other domain", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.org,.internal"}, true, target, "http://p:3128 (from HTTPS_PROXY)"},
		{"NO_PROXY star", nil, map[string]string{"ALL_PROXY": "http://p:3128", "NO_PROXY": "*"}, true, target, "none (NO_PROXY matches broker.example.com)"},
		{"NO_PROXY CIDR", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.0/8"}, true, "10.1.2.3:8883", "none (NO_PROXY matches 10.1.2.3)"},
		{"NO_PROXY CIDR miss", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.0/8"}, true, "192.0.2.1:8883", "http://p:3128 (from HTTPS_PROXY)"},
		{"NO_PROXY host:port", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "broker.example.com:8883"}, true, target, "none (NO_PROXY matches broker.example.com)"},
		{"NO_PROXY other port", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "broker.example.com:443"}, true, target, "http://p:3128 (from HTTPS_PROXY)"},
		{"loopback never", nil, map[string]string{"HTTPS_PROXY": "http://p:3128"}, true, "127.0.0.1:8883", "none (HTTPS_PROXY is not used for loopback 127.0.0.1)"},
		{"LOCALHOST never", nil, map[string]string{"ALL_PROXY": "http://p:3128"}, false, "LOCALHOST:1883", "none (ALL_PROXY is not used for loopback localhost)"},
		{"localhost never", nil, map[string]string{"ALL_PROXY": "http://p:3128"}, false, "localhost:1883", "none (ALL_PROXY is not used for loopback localhost)"},
		{"--proxy over env", []string{"--proxy", "http://flag:8080"}, map[string]string{"HTTPS_PROXY": "http://p:3128"}, true, target, "http://flag:8080 (from --proxy)"},
		{"--proxy ignores NO_PROXY and loopback", []string{"--proxy", "socks5://flag:1080"}, map[string]string{"NO_PROXY": "*"}, true, "127.0.0.1:8883", "socks5://flag:1080 (from --proxy)"},
		{"IOTCTL_PROXY", nil, map[string]string{"IOTCTL_PROXY": "http://iot:8080", "HTTPS_PROXY": "http://p:3128"}, true, target, "http://iot:8080 (from IOTCTL_PROXY)"},
		{"seed spelling", []string{"--proxy-host", "seed", "--proxy-port", "8080"}, nil, true, target, "http://seed:8080 (from --proxy-host/--proxy-port)"},
		{"--proxy ''", []string{"--proxy", ""}, map[string]string{"HTTPS_PROXY": "http://p:3128", "ALL_PROXY": "http://a:1"}, true, target, "none (--proxy '')"},
		{"--no-proxy", []string{"--no-proxy"}, map[string]string{"HTTPS_PROXY": "http://p:3128"}, true, target, "none (--no-proxy)"},
		{"NO_PROXY [::1]", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "[::1]"}, true, "[::1]:8883", "none (HTTPS_PROXY is not used for loopback ::1)"},
		{"NO_PROXY [fe80::1]:8883", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "[fe80::1]:8883"}, true, "[fe80::1]:8883", "none (NO_PROXY matches fe80::1)"},
		{"NO_PROXY [fe80::1]:8883 other port", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "[fe80::1]:8883"}, true, "[fe80::1]:443", "http://p:3128 (from HTTPS_PROXY)"},
		{"NO_PROXY fe80::1", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "fe80::1"}, true, "[fe80::1]:8883", "none (NO_PROXY matches fe80::1)"},
		{"NO_PROXY upper case entry", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "BROKER.Example.COM"}, true, target, "none (NO_PROXY matches broker.example.com)"},
		{"NO_PROXY upper case host", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".example.com"}, true, "Broker.EXAMPLE.com:8883", "none (NO_PROXY matches broker.example.com)"},
		{"NO_PROXY upper case suffix", nil, map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".EXAMPLE.com:8883"}, true, target, "none (NO_PROXY matches broker.example.com)"},
		{"IOTCTL_NO_PROXY", nil, map[string]string{"IOTCTL_NO_PROXY": "true", "ALL_PROXY": "http://p:3128"}, true, target, "none (IOTCTL_NO_PROXY)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearProxyEnv(t)
			for k, v := range tc.env {
				if strings.HasPrefix(k, "IOTCTL_") {
					t.Setenv(k, v)
				}
			}
			st := testenv.Settings(t, tc.args...)
			r, err := proxy.FromSettings(st, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			c, err := r.For(tc.secure, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Bad proxy settings are usage errors (exit 2) before anything connects,
// naming the variable and hiding the password.
func TestRuleErrors(t *testing.T) {
	clearProxyEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad scheme in env", nil, map[string]string{"HTTPS_PROXY": "ftp://u:pw-secret@p:21"}, "HTTPS_PROXY=ftp://u:****@p:21: scheme ftp:// is not supported"},
		{"bad scheme in ALL_PROXY", nil, map[string]string{"all_proxy": "socks4://p:1080"}, "all_proxy=socks4://p:1080: scheme socks4:// is not supported"},
		{"bad port", nil, map[string]string{"HTTP_PROXY": "http://p:99999"}, "port 99999 is not 1-65535"},
		{"bad --proxy scheme", []string{"--proxy", "socks4://u:pw-secret@p:1080"}, nil, "scheme socks4:// is not supported: give http://, https://, socks5:// or socks5h://"},
		{"# in password", nil, map[string]string{"HTTPS_PROXY": "http://bob:pw-secret#1@p:3128"}, "HTTPS_PROXY=http://bob:****@p:3128: the user or password contains '#', '?' or '/': percent-encode it (%23, %3F, %2F)"},
		{"? in password", nil, map[string]string{"HTTPS_PROXY": "http://bob:12?pw-secret@p:3128"}, "HTTPS_PROXY=http://bob:****@p:3128: the user or password contains"},
		{"/ in password", nil, map[string]string{"all_proxy": "socks5://bob:pw-secret/x@p:1080"}, "all_proxy=socks5://bob:****@p:1080: the user or password contains"},
		{"/ in password no scheme", nil, map[string]string{"HTTP_PROXY": "bob:a/pw-secret@p:3128"}, "HTTP_PROXY=bob:****@p:3128: the user or password contains"},
		{"# in --proxy password", []string{"--proxy", "http://bob:pw-secret#@p:3128"}, nil, "proxy http://bob:****@p:3128: the user or password contains '#', '?' or '/': percent-encode it"},
		{"token in a bad --proxy", []string{"--proxy", "http://pw-secret@p:3128/path"}, nil, "proxy http://****@p:3128/path: a proxy URL has no path"},
		{"token in a bad variable", nil, map[string]string{"HTTPS_PROXY": "ftp://pw-secret@p:21"}, "HTTPS_PROXY=ftp://****@p:21: scheme ftp:// is not supported"},
		{"long SOCKS5 password", []string{"--proxy", "socks5://u:pw-secret" + strings.Repeat("x", 300) + "@p:1080"}, nil, "proxy socks5://u:****@p:1080: SOCKS5 allows a user name and password of 1 to 255 bytes each"},
		{"long SOCKS5 user in env", nil, map[string]string{"ALL_PROXY": "socks5h://" + strings.Repeat("u", 256) + ":pw-secret@p:1080"}, "@p:1080: SOCKS5 allows a user name and password of 1 to 255 bytes each"},
		{"SOCKS5 password without user", []string{"--proxy", "socks5://:pw-secret@p:1080"}, nil, "SOCKS5 allows a user name and password of 1 to 255 bytes each"},
		{"--no-proxy and --proxy", []string{"--no-proxy", "--proxy", "http://p:1"}, nil, "--no-proxy (from --no-proxy) and a proxy (from --proxy) are both set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testenv.Settings(t, tc.args...)
			_, err := proxy.FromSettings(st, func(k string) string { return tc.env[k] })
			if err == nil {
				t.Fatal("no error")
			}
			if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pw-secret") {
				t.Errorf("got %v (%v), want a usage error with %q and no password", err, errs.KindOf(err), tc.want)
			}
		})
	}
	// A bad variable does not matter once --proxy or --no-proxy is given.
	st := testenv.Settings(t, "--no-proxy")
	if _, err := proxy.FromSettings(st, func(string) string { return "ftp://x:1" }); err != nil {
		t.Errorf("--no-proxy with a bad HTTPS_PROXY: %v", err)
	}
}

// HTTP_PROXY is not used in a CGI environment (httpproxy's rule, Go
// issue golang.org/x/net#53): an error, not a silent direct connection.
func TestRuleCGI(t *testing.T) {
	clearProxyEnv(t)
	env := map[string]string{"HTTP_PROXY": "http://p:3128", "REQUEST_METHOD": "GET"}
	r, err := proxy.FromSettings(testenv.Settings(t), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.For(false, "broker.example.com:1883"); errs.KindOf(err) != errs.Usage {
		t.Errorf("HTTP_PROXY under CGI: %v", err)
	}
}

// clearProxyEnv keeps the caller's own IOTCTL_PROXY/IOTCTL_NO_PROXY out
// of settings the tests resolve.
func clearProxyEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"IOTCTL_PROXY", "IOTCTL_NO_PROXY", "IOTCTL_PROXY_HOST", "IOTCTL_PROXY_PORT", "IOTCTL_PROFILE"} {
		t.Setenv(k, "")
	}
}
