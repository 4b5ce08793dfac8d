package auth

import (
	"context"
	"crypto/tls"
	"os"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["none"] = func(s *profile.Settings) (Provider, error) { return newPlain("none", s) }
	constructors["userpass"] = func(s *profile.Settings) (Provider, error) { return newPlain("userpass", s) }
}

// plain is a generic broker: no credentials, or an MQTT username/password.
// The endpoint's scheme picks the transport; without one, TLS is used when a
// CA file is given, else plain TCP.
type plain struct {
	method string
	dial   Dial
}

func newPlain(method string, s *profile.Settings) (Provider, error) {
	d := Dial{}
	if err := applyCredentials(s, &d); err != nil {
		return nil, err
	}
	if method == "userpass" && !d.HasUsername && !d.HasPassword {
		return nil, errs.Usagef("auth userpass needs --username or --password/--password-file")
	}
	if err := genericTransport(s, &d, nil); err != nil {
		return nil, err
	}
	return &plain{method: method, dial: d}, nil
}

func (p *plain) Method() string { return p.method }

func (p *plain) Prepare(context.Context) (*Dial, error) {
	d := p.dial
	if d.TLS != nil {
		d.TLS = d.TLS.Clone()
	}
	return &d, nil
}

// applyCredentials sets CONNECT username and password from the settings.
func applyCredentials(s *profile.Settings, d *Dial) error {
	if s.Username != "" {
		d.Username, d.HasUsername = s.Username, true
	}
	switch {
	case s.PasswordFile != "":
		data, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return errs.Usagef("password file %s: %v: check --password-file (or use IOTCTL_PASSWORD)", s.PasswordFile, unwrapPathErr(err))
		}
		d.Password, d.HasPassword = []byte(strings.TrimRight(string(data), "\r\n")), true
	case s.Password != "":
		d.Password, d.HasPassword = []byte(s.Password), true
	}
	return nil
}

// genericTransport picks transport and default port for a generic broker
// from the endpoint's scheme; certs are the client certificates, if any.
func genericTransport(s *profile.Settings, d *Dial, certs []tls.Certificate) error {
	ep, err := profile.ParseEndpoint(s.Endpoint)
	if err != nil {
		return errs.Usagef("%v", err)
	}
	secure := s.CAFile != "" || s.Insecure || len(certs) > 0
	switch ep.Scheme {
	case "mqtt":
		d.Transport, d.Port = TCP, 1883
	case "mqtts":
		d.Transport, d.Port = TLS, 8883
	case "ws":
		d.Transport, d.Port = WS, 80
	case "wss":
		d.Transport, d.Port = WSS, 443
	default:
		if secure {
			d.Transport, d.Port = TLS, 8883
		} else {
			d.Transport, d.Port = TCP, 1883
		}
	}
	if d.Transport == TLS || d.Transport == WSS {
		cfg, err := baseTLS(s)
		if err != nil {
			return err
		}
		cfg.Certificates = certs
		d.TLS = cfg
	}
	return nil
}
