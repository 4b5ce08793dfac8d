package profile

import (
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
}

// ParseEndpoint accepts host, host:port, [v6]:port or a URL with scheme
// mqtt, mqtts, tcp, tls, ssl, ws or wss.
func ParseEndpoint(text string) (Endpoint, error) {
	if text == "" {
		return Endpoint{}, fmt.Errorf("empty endpoint: give a host name, host:port or URL")
	}
	if strings.Contains(text, "://") {
		u, err := url.Parse(text)
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
