package profile

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is the broker address a user gave, split up.
type Endpoint struct {
	Scheme string // "", "mqtt", "mqtts", "ws", "wss"
	Host   string
	Port   int    // 0 when not given
	Path   string // websocket path, when a URL gave one
	// Username and Password are a URL's user info (mqtt://user:pass@host),
	// percent-decoded; HasUser and HasPassword say whether it gave them.
	Username    string
	Password    string
	HasUser     bool
	HasPassword bool
}

// withoutUserinfo is an endpoint URL with its user info cut out, so the
// address that is dialled and printed carries no password.
func withoutUserinfo(text string) string {
	i := strings.Index(text, "://")
	if i < 0 {
		return text
	}
	rest := text[i+3:]
	authority := rest
	if j := strings.IndexAny(authority, "/?#"); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return text
	}
	return text[:i+3] + rest[at+1:]
}

// ParseEndpoint accepts host, host:port, [v6]:port or a URL with scheme
// mqtt, mqtts, tcp, tls, ssl, ws or wss, and user info
// (mqtt://user:pass@host). Its errors show the password masked.
func ParseEndpoint(text string) (Endpoint, error) {
	ep, err := parseEndpoint(text)
	if err != nil {
		return Endpoint{}, errors.New(maskIn(err.Error(), text))
	}
	return ep, nil
}

func parseEndpoint(text string) (Endpoint, error) {
	if text == "" {
		return Endpoint{}, fmt.Errorf("empty endpoint: give a host name, host:port or URL")
	}
	if strings.Contains(text, "://") {
		u, err := url.Parse(text)
		if err != nil && strings.Contains(text, "@") {
			// net/url's error quotes the URL up to where it failed, which
			// may be part of the password: say what to do instead.
			return Endpoint{}, fmt.Errorf("invalid endpoint URL %q: percent-encode any @ : / ? # in the user name and password (%%40 %%3A %%2F %%3F %%23)", text)
		}
		if err != nil {
			return Endpoint{}, fmt.Errorf("invalid endpoint URL %q: %v", text, err)
		}
		scheme := strings.ToLower(u.Scheme)
		switch scheme {
		case "tcp":
			scheme = "mqtt"
		case "tls", "ssl":
			scheme = "mqtts"
		case "mqtt", "mqtts", "ws", "wss":
		default:
			return Endpoint{}, fmt.Errorf("invalid endpoint %q: scheme %q is not one of mqtt, mqtts, ws, wss", text, u.Scheme)
		}
		ep := Endpoint{Scheme: scheme, Host: u.Hostname(), Path: u.Path}
		if u.User != nil {
			ep.Username, ep.HasUser = u.User.Username(), true
			ep.Password, ep.HasPassword = u.User.Password()
		}
		if u.Host == "" || ep.Host == "" {
			return Endpoint{}, fmt.Errorf("invalid endpoint %q: no host", text)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return Endpoint{}, fmt.Errorf("invalid endpoint %q: bad port %q", text, p)
			}
			ep.Port = n
		}
		return ep, nil
	}
	if host, port, err := net.SplitHostPort(text); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return Endpoint{}, fmt.Errorf("invalid endpoint %q: bad port %q", text, port)
		}
		return Endpoint{Host: host, Port: n}, nil
	}
	if strings.ContainsAny(text, "/ ?#@") {
		return Endpoint{}, fmt.Errorf("invalid endpoint %q: give a host name, host:port or URL", text)
	}
	return Endpoint{Host: strings.Trim(text, "[]")}, nil
}
