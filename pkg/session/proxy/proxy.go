// Package proxy decides which proxy a connection goes through (the --proxy
// setting, else the HTTPS_PROXY/HTTP_PROXY/ALL_PROXY/NO_PROXY variables:
// env.go) and dials through it: an HTTP CONNECT proxy (Basic auth when the
// proxy URL has a user, TLS to the proxy for https:// URLs) or a SOCKS5
// proxy (socks.go). The tunnel it returns carries whatever comes next (TLS
// or a websocket to the broker, or an AWS HTTPS call). Proxy passwords never
// appear in errors: they are shown as ****.
package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// Config is how to reach the proxy.
type Config struct {
	// URL is http://[user:pass@]host:port, https://…, socks5://… or
	// socks5h://…; a missing port means 80, 443 or 1080.
	URL *url.URL
	// RootCAs verify an https:// proxy; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds the whole dial (TCP, TLS, CONNECT); 0: only ctx.
	Timeout time.Duration
	// From names where the proxy was set, for errors to name what to
	// check: Choice.From (--proxy, HTTPS_PROXY, profile dev, …); "":
	// --proxy.
	From string
	// ClientFirst: the protocol in the tunnel has the client speak first
	// (MQTT, TLS, websockets), so bytes right behind the proxy's 200 reply
	// are the proxy's, not the broker's, and the dial fails naming the
	// proxy (otherwise the broker would be blamed for a protocol error).
	ClientFirst bool
}

// setting is what an error tells the user to check: --proxy, HTTPS_PROXY,
// the proxy of profile dev.
func (c Config) setting() string {
	switch {
	case c.From == "":
		return "--proxy"
	case strings.HasPrefix(c.From, "profile "):
		return "the proxy of " + c.From
	}
	return c.From
}

// Dial opens a tunnel to target (host:port) through the proxy. Errors are
// of kind Connect, including a proxy's refusal (407 and any non-2xx, or a
// SOCKS5 proxy refusing the user and password).
func Dial(ctx context.Context, cfg Config, target string) (net.Conn, error) {
	if cfg.URL == nil {
		return nil, errs.Usagef("proxy: no proxy URL")
	}
	addr, err := hostPort(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	if isSOCKS(cfg.URL.Scheme) {
		return dialSOCKS(ctx, cfg, addr, target)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, ctx.Err()
		}
		return nil, errs.Connectf("proxy %s: %v: check %s", addr, unwrapOpErr(err), cfg.setting())
	}
	tunnel, err := handshake(ctx, conn, cfg, addr, target)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return tunnel, nil
}

// handshake does TLS to an https:// proxy, then the CONNECT exchange, on
// conn; the context's end interrupts it.
func handshake(ctx context.Context, conn net.Conn, cfg Config, addr, target string) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if cfg.URL.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: cfg.URL.Hostname(), RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			var re tls.RecordHeaderError
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				return nil, errs.New(errs.Connect, timedOut(fmt.Sprintf("proxy %s: no TLS handshake within the connect timeout: check the proxy, or raise --connect-timeout", addr)))
			case errors.As(err, &re):
				return nil, errs.Connectf("proxy %s: TLS handshake: %w: is %s a TLS (https://) proxy? Give http:// for a plain one", addr, err, addr)
			}
			return nil, errs.Connectf("proxy %s: TLS handshake: %w: check the proxy's certificate, or --proxy-ca-file", addr, ctxErr(ctx, err))
		}
		conn = tc
	}

	var req strings.Builder
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if u := cfg.URL.User; u != nil {
		pass, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pass))
		fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	req.WriteString("\r\n")
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return nil, errs.Connectf("proxy %s: send CONNECT to %s: %w", addr, target, ctxErr(ctx, err))
	}

	// A reply without end would be read into memory until the deadline.
	lr := &io.LimitedReader{R: conn, N: maxReply}
	br := bufio.NewReader(lr)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err == nil {
		_, err = tp.ReadMIMEHeader()
	}
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, errs.New(errs.Connect, timedOut(fmt.Sprintf("proxy %s: no reply to CONNECT %s within the connect timeout: check the proxy, or raise --connect-timeout", addr, target)))
	case lr.N == 0:
		return nil, errs.Connectf("proxy %s: the reply to CONNECT %s is longer than %d KB: is %s an HTTP proxy?", addr, target, maxReply>>10, addr)
	default:
		return nil, errs.Connectf("proxy %s: read the reply to CONNECT %s: %w: is %s an HTTP proxy?", addr, target, ctxErr(ctx, err), addr)
	}
	code, ok := statusCode(status)
	if !ok {
		return nil, errs.Connectf("proxy %s: malformed reply to CONNECT %s: %q: is %s an HTTP proxy?", addr, target, printable(status), addr)
	}
	if code < 200 || code > 299 {
		hint := ""
		switch {
		// tinyproxy answers a wrong password with 401, a missing one with 407.
		case (code == 407 || code == 401) && cfg.URL.User != nil:
			hint = ": check the proxy user and password"
		case code == 407 || code == 401:
			hint = ": the proxy wants a user and password: give them in " + cfg.setting() + " (http://user:pass@host:port)"
		case code == 403:
			hint = ": the proxy does not allow this destination or port"
		}
		return nil, errs.Connectf("proxy %s refused CONNECT to %s: %s%s", addr, target, printable(status), hint)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, errs.Connectf("proxy %s: %v", addr, err)
	}
	if !stop() {
		// The context ended as the exchange finished: the deadline it set may
		// have landed after the reset above.
		return nil, ctx.Err()
	}
	if n := br.Buffered(); n > 0 && cfg.ClientFirst {
		junk, _ := br.Peek(min(n, 32))
		return nil, errs.Connectf("proxy %s: %d bytes (%q) behind its reply to CONNECT %s, before the broker could have sent any: the proxy is broken or not an HTTP CONNECT proxy", addr, n, printable(string(junk)), target)
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// timedOut is a message about the connect timeout that is still
// context.DeadlineExceeded for errors.Is.
type timedOut string

func (e timedOut) Error() string { return string(e) }
func (e timedOut) Unwrap() error { return context.DeadlineExceeded }

// maxReply bounds a proxy's reply to CONNECT (status line and headers).
const maxReply = 64 << 10

// bufferedConn first returns the bytes the broker sent right behind the
// proxy's reply, which the reply's reader already holds.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// NetConn is the connection under the buffer, for a close that must not
// block.
func (c *bufferedConn) NetConn() net.Conn { return c.Conn }

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

// statusCode reads the code of an HTTP/1.x status line.
func statusCode(line string) (int, bool) {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
		return 0, false
	}
	codeText, _, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || len(codeText) != 3 {
		return 0, false
	}
	return code, true
}

// printable keeps a proxy's text fit for a one-line error.
func printable(s string) string {
	const max = 120
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func unwrapOpErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Schemes are the proxy URL schemes iotctl dials.
var Schemes = []string{"http", "https", "socks5", "socks5h"}

const schemesHint = "give http://, https://, socks5:// or socks5h://"

func isSOCKS(scheme string) bool { return scheme == "socks5" || scheme == "socks5h" }

func knownScheme(scheme string) bool {
	for _, s := range Schemes {
		if s == scheme {
			return true
		}
	}
	return false
}

func hostPort(u *url.URL) (string, error) {
	if !knownScheme(u.Scheme) {
		return "", errs.Usagef("proxy %s: scheme %s:// is not supported: %s", redact(u.String()), u.Scheme, schemesHint)
	}
	host := u.Hostname()
	if host == "" {
		return "", errs.Usagef("proxy %s: no host", redact(u.String()))
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(host, port), nil
}

// Parse reads the proxy settings: --proxy as http://[user:pass@]host:port,
// https://…, socks5://… or socks5h://… (host:port alone means http://),
// or the seed sample's
// --proxy_host and --proxy_port. It returns nil when no proxy is set.
func Parse(proxy, host string, port int) (*url.URL, error) {
	if proxy != "" && (host != "" || port != 0) {
		return nil, errs.Usagef("proxy: both --proxy and --proxy-host/--proxy-port are set: give only --proxy")
	}
	if proxy == "" {
		switch {
		case host == "" && port == 0:
			return nil, nil
		case host == "":
			return nil, errs.Usagef("proxy: --proxy-port %d without --proxy-host: give both, or --proxy http://host:port", port)
		case port == 0:
			return nil, errs.Usagef("proxy: --proxy-host %s without --proxy-port: give both, or --proxy http://host:port", host)
		case port < 0 || port > 65535:
			return nil, errs.Usagef("proxy: --proxy-port %d is not a port (1-65535)", port)
		case strings.ContainsAny(host, "/@?# "):
			return nil, errs.Usagef("proxy: --proxy-host %q is not a host name", host)
		}
		return &url.URL{Scheme: "http", Host: net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))}, nil
	}
	text := proxy
	if !strings.Contains(text, "://") {
		text = "http://" + text
	}
	shown := redact(proxy)
	if reservedInUserinfo(proxy) {
		return nil, errs.Usagef("proxy %s: %s", shown, reservedHint)
	}
	u, err := url.Parse(text)
	if err != nil {
		return nil, errs.Usagef("proxy %s: not a URL: give --proxy http://[user:pass@]host:port", shown)
	}
	if !knownScheme(u.Scheme) {
		return nil, errs.Usagef("proxy %s: scheme %s:// is not supported: %s", shown, u.Scheme, schemesHint)
	}
	if u.Hostname() == "" {
		return nil, errs.Usagef("proxy %s: no host: give --proxy http://[user:pass@]host:port", shown)
	}
	p := u.Port()
	if p == "" {
		return nil, errs.Usagef("proxy %s: no port: give --proxy %s://host:port", shown, u.Scheme)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return nil, errs.Usagef("proxy %s: port %s is not 1-65535", shown, p)
	}
	if err := checkSOCKSAuth(u); err != nil {
		return nil, errs.Usagef("proxy %s: %v", shown, err)
	}
	if u.User != nil && !isSOCKS(u.Scheme) && strings.Contains(u.User.Username(), ":") {
		// RFC 7617: Basic auth sends user:password, so a user name with a
		// colon would be read as a shorter name and a longer password.
		return nil, errs.Usagef("proxy %s: the user name has a colon (%%3A), which HTTP Basic auth cannot carry: use a user name without one", shown)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, errs.Usagef("proxy %s: a proxy URL has no path, query or fragment: give --proxy http://[user:pass@]host:port", shown)
	}
	u.Path = ""
	return u, nil
}

// checkSOCKSAuth checks a SOCKS5 proxy's user and password against RFC
// 1929 (1 to 255 bytes each), which the proxy dialer would refuse only
// when connecting.
func checkSOCKSAuth(u *url.URL) error {
	if !isSOCKS(u.Scheme) || u.User == nil {
		return nil
	}
	pass, _ := u.User.Password()
	if n := len(u.User.Username()); n == 0 || n > 255 || len(pass) > 255 {
		return errors.New("SOCKS5 allows a user name and password of 1 to 255 bytes each")
	}
	return nil
}

// reservedInUserinfo reports whether the user or password of a proxy
// setting holds a '#', '?' or '/' that is not percent-encoded: the URL's
// host would end there (http://bob:12?x@proxy:3128 is host bob, port 12).
func reservedInUserinfo(s string) bool {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return false
	}
	start := strings.Index(s, "://")
	if start < 0 || start > at {
		start = 0
	} else {
		start += 3
	}
	return strings.ContainsAny(s[start:at], "#?/")
}

const reservedHint = "the user or password contains '#', '?' or '/': percent-encode it (%23, %3F, %2F)"

// redact hides what might be a secret in a proxy setting that may not
// even parse: a password, or a user name alone, which may be a token
// (profile.MaskProxyURL): http://bob:****@host:3128, http://****@host:3128.
func redact(s string) string { return profile.MaskProxyURL(s) }
