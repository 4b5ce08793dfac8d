package proxy

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpproxy"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// Choice is the proxy one connection goes through, and where that came
// from.
type Choice struct {
	// URL is the proxy; nil means a direct connection.
	URL *url.URL
	// From names the setting or variable: --proxy, IOTCTL_PROXY, profile
	// dev, HTTPS_PROXY, all_proxy, … ("" for a direct connection).
	From string
	// Why says why a connection is direct: "no proxy set", "--no-proxy",
	// "NO_PROXY matches host", …
	Why string
}

// Shown is the proxy URL with its password, or a user name alone (a
// token), masked ("" when direct).
func (c Choice) Shown() string {
	if c.URL == nil {
		return ""
	}
	return profile.MaskProxyURL(c.URL.String())
}

// String is how whoami and --debug print the choice:
// "http://bob:****@proxy:3128 (from HTTPS_PROXY)" or "none (no proxy set)".
func (c Choice) String() string {
	if c.URL == nil {
		if c.Why == "" {
			return "none"
		}
		return "none (" + c.Why + ")"
	}
	return c.Shown() + " (from " + c.From + ")"
}

// envVar is one proxy variable and its value, under the spelling that
// was set (HTTPS_PROXY before https_proxy, as httpproxy reads them).
type envVar struct{ name, value string }

func getEnvAny(getenv func(string) string, names ...string) envVar {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return envVar{n, v}
		}
	}
	return envVar{}
}

// Rule decides the proxy of every connection iotctl makes, MQTT and the
// AWS HTTPS calls (STS, Cognito) alike:
//
//  1. --proxy (or IOTCTL_PROXY, or the profile's proxy; or the seed's
//     --proxy-host/--proxy-port) for every connection, loopback included;
//     NO_PROXY does not apply to it.
//  2. --no-proxy, or --proxy "" (an empty proxy set by flag or profile):
//     no proxy, whatever the environment says.
//  3. Else the environment, as golang.org/x/net/http/httpproxy reads it:
//     HTTPS_PROXY (then https_proxy) for TLS targets (mqtts, wss, https),
//     HTTP_PROXY (then http_proxy) for plain ones (mqtt, ws, http; ignored
//     when REQUEST_METHOD is set, as in a CGI script), ALL_PROXY (then
//     all_proxy) for either when its own variable is unset; NO_PROXY (then
//     no_proxy) lists hosts, domain suffixes (.example.com or example.com,
//     which covers its subdomains), CIDR ranges, host:port, or * for all.
//     Like curl and Go, the variables never apply to localhost and
//     loopback addresses.
type Rule struct {
	explicit *url.URL
	from     string
	off      string // why the environment is ignored; "" when it is not

	https, http, all, noProxy envVar
	cgi                       bool
}

// FromSettings builds the rule from the resolved settings and the
// environment (getenv: os.Getenv). Every proxy URL it may use is checked
// here, so a bad one is a usage error (exit 2) before anything connects.
func FromSettings(st *profile.Settings, getenv func(string) string) (*Rule, error) {
	r := &Rule{}
	hasProxy := st.Proxy != "" || st.ProxyHost != "" || st.ProxyPort != 0
	switch {
	case st.NoProxy && hasProxy:
		return nil, errs.Usagef("proxy: --no-proxy (from %s) and a proxy (from %s) are both set: give one", describe(st, "no-proxy"), r.explicitFrom(st))
	case hasProxy:
		u, err := Parse(st.Proxy, st.ProxyHost, st.ProxyPort)
		if err != nil {
			return nil, err
		}
		r.explicit, r.from = u, r.explicitFrom(st)
		return r, nil
	case st.NoProxy:
		r.off = describe(st, "no-proxy")
		return r, nil
	case st.IsSet("proxy"):
		r.off = "empty proxy from " + describe(st, "proxy")
		if st.Source("proxy") == profile.FromFlag {
			r.off = "--proxy ''"
		}
		return r, nil
	}
	r.https = getEnvAny(getenv, "HTTPS_PROXY", "https_proxy")
	r.http = getEnvAny(getenv, "HTTP_PROXY", "http_proxy")
	r.all = getEnvAny(getenv, "ALL_PROXY", "all_proxy")
	r.noProxy = getEnvAny(getenv, "NO_PROXY", "no_proxy")
	r.cgi = getenv("REQUEST_METHOD") != ""
	for _, v := range []envVar{r.https, r.http, r.all} {
		if v.value == "" {
			continue
		}
		if _, err := parseEnvProxy(v); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Rule) explicitFrom(st *profile.Settings) string {
	if st.Proxy != "" {
		return describe(st, "proxy")
	}
	return describe(st, "proxy-host") + "/--proxy-port"
}

// describe names where a setting came from: --proxy, IOTCTL_PROXY or
// profile NAME.
func describe(st *profile.Settings, name string) string {
	switch st.Source(name) {
	case profile.FromEnv:
		return profile.EnvName(name)
	case profile.FromProfile:
		return "profile " + st.Profile
	}
	return "--" + name
}

// parseEnvProxy reads a proxy variable as httpproxy does (no scheme means
// http://) and checks it as --proxy is checked, except that a missing port
// is the scheme's default (80, 443, 1080), as in Go and curl.
func parseEnvProxy(v envVar) (*url.URL, error) {
	text := v.value
	if !strings.Contains(text, "://") {
		text = "http://" + text
	}
	shown := redact(v.value)
	if reservedInUserinfo(v.value) {
		return nil, errs.Usagef("proxy: %s=%s: %s", v.name, shown, reservedHint)
	}
	u, err := url.Parse(text)
	if err != nil {
		return nil, errs.Usagef("proxy: %s=%s: not a URL: give http://[user:pass@]host:port, or unset %s (--no-proxy ignores it)", v.name, shown, v.name)
	}
	if !knownScheme(u.Scheme) {
		return nil, errs.Usagef("proxy: %s=%s: scheme %s:// is not supported: %s, or unset %s (--no-proxy ignores it)", v.name, shown, u.Scheme, schemesHint, v.name)
	}
	if u.Hostname() == "" {
		return nil, errs.Usagef("proxy: %s=%s: no host: give http://[user:pass@]host:port, or unset %s (--no-proxy ignores it)", v.name, shown, v.name)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errs.Usagef("proxy: %s=%s: port %s is not 1-65535", v.name, shown, p)
		}
	}
	if err := checkSOCKSAuth(u); err != nil {
		return nil, errs.Usagef("proxy: %s=%s: %v", v.name, shown, err)
	}
	u.Path, u.RawPath = "", ""
	return u, nil
}

// For returns the proxy for a connection to hostport (host:port): secure
// is true for TLS targets (mqtts, wss, https), false for plain ones.
func (r *Rule) For(secure bool, hostport string) (Choice, error) {
	scheme := "http"
	if secure {
		scheme = "https"
	}
	return r.ForURL(&url.URL{Scheme: scheme, Host: hostport})
}

// ForURL returns the proxy for a request to u (an http:// or https:// URL;
// for MQTT, For maps the transport to one).
func (r *Rule) ForURL(u *url.URL) (Choice, error) {
	if r.explicit != nil {
		return Choice{URL: r.explicit, From: r.from}, nil
	}
	if r.off != "" {
		return Choice{Why: r.off}, nil
	}
	v := r.http
	if u.Scheme == "https" {
		v = r.https
	}
	if v.value == "" {
		v = r.all
	}
	if v.value == "" {
		return Choice{Why: "no proxy set"}, nil
	}
	cfg := httpproxy.Config{NoProxy: r.noProxy.value, CGI: r.cgi}
	if u.Scheme == "https" {
		cfg.HTTPSProxy = v.value
	} else {
		cfg.HTTPProxy = v.value
	}
	// Host names are case-insensitive: LOCALHOST is loopback too.
	lower := *u
	lower.Host = strings.ToLower(u.Host)
	pu, err := cfg.ProxyFunc()(&lower)
	if err != nil {
		// HTTP_PROXY in a CGI environment (golang.org/x/net issue 53).
		return Choice{}, errs.Usagef("proxy: %s: %v: unset it, or give --proxy or --no-proxy", v.name, err)
	}
	if pu == nil {
		host := lower.Hostname()
		if host == "localhost" || isLoopback(host) {
			return Choice{Why: v.name + " is not used for loopback " + host}, nil
		}
		return Choice{Why: r.noProxy.name + " matches " + host}, nil
	}
	// Checked in FromSettings; parsed again here for the port defaults and
	// the scheme httpproxy leaves out.
	checked, err := parseEnvProxy(v)
	if err != nil {
		return Choice{}, err
	}
	return Choice{URL: checked, From: v.name}, nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Active reports whether any connection may go through a proxy.
func (r *Rule) Active() bool {
	return r.explicit != nil || (r.off == "" && (r.https.value != "" || r.http.value != "" || r.all.value != ""))
}
