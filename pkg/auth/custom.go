package auth

import (
	"context"

	"github.com/iotctl/iotctl/internal/build"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["custom"] = func(s *profile.Settings) (Provider, error) { return newCustom(s) }
}

// customALPN is the protocol IoT Core requires for custom authorizers on
// direct TLS; the SDKs offer it on every port.
const customALPN = "mqtt"

// custom is an AWS IoT custom authorizer: its parameters travel in the
// CONNECT username, the password goes to the authorizer as raw bytes.
// Direct TLS (ALPN mqtt) by default; --transport websocket or a ws(s)://
// endpoint uses an unsigned websocket upgrade instead.
type custom struct {
	dial Dial
}

func newCustom(s *profile.Settings) (*custom, error) {
	username, err := CustomAuthUsername(s.AuthorizerUser, s.AuthorizerName, s.TokenKeyName, s.TokenValue, s.TokenSignature, !s.NoMetrics, build.Version)
	if err != nil {
		return nil, err
	}
	ep, err := profile.ParseEndpoint(s.Endpoint)
	if err != nil {
		return nil, errs.Usagef("%v", err)
	}
	websocket := s.Transport == "websocket"
	d := Dial{Username: username, HasUsername: username != ""}
	switch ep.Scheme {
	case "":
		d.Transport, d.Port = TLS, 443
		if websocket {
			d.Transport = WSS
		}
	case "wss":
		d.Transport, d.Port = WSS, 443
	case "ws":
		// Only a local emulator: the token would cross the network in clear.
		d.Transport, d.Port = WS, 80
	case "mqtts":
		d.Transport, d.Port = TLS, 443
	case "mqtt":
		d.Transport, d.Port = TCP, 1883
	}
	if websocket && (d.Transport == TLS || d.Transport == TCP) {
		return nil, errs.Usagef("custom: --transport websocket does not fit endpoint %s: give a host name or a wss:// URL", s.Endpoint)
	}
	if d.Transport == TLS || d.Transport == WSS {
		cfg, err := baseTLS(s)
		if err != nil {
			return nil, err
		}
		if d.Transport == TLS && !s.IsSet("alpn") {
			cfg.NextProtos = []string{customALPN}
		}
		d.TLS = cfg
	}
	if s.AuthorizerPass != "" || s.IsSet("authorizer-password") {
		d.Password, d.HasPassword = []byte(s.AuthorizerPass), true
	}
	return &custom{dial: d}, nil
}

func (p *custom) Method() string { return "custom" }

func (p *custom) Prepare(context.Context) (*Dial, error) {
	d := p.dial
	d.TLS = cloneTLS(d.TLS)
	d.Password = append([]byte(nil), p.dial.Password...)
	return &d, nil
}
