package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["mtls"] = newMTLS
}

// alpnMutualTLS lets AWS IoT Core accept MQTT with mutual TLS on port 443.
const alpnMutualTLS = "x-amzn-mqtt-ca"

// CertificateProvider is a Provider whose identity is an X.509 client
// certificate (mtls, pkcs11, pkcs12, winstore), for whoami and profile validate.
type CertificateProvider interface {
	Provider
	// Leaf is the client certificate sent to the broker.
	Leaf() *x509.Certificate
}

// certProvider is what every certificate method returns once its key and
// certificate are loaded: the methods differ only in where those come from.
type certProvider struct {
	method string
	source string // where the certificate came from, for validity errors
	dial   Dial
	leaf   *x509.Certificate
	now    func() time.Time
}

func (p *certProvider) Method() string          { return p.method }
func (p *certProvider) Leaf() *x509.Certificate { return p.leaf }

// Prepare checks the certificate's dates again, so a long-running command
// reconnecting after its certificate expired says so instead of failing the
// TLS handshake with a bare alert.
func (p *certProvider) Prepare(context.Context) (*Dial, error) {
	if err := CheckValidity(p.leaf, p.source, p.now()); err != nil {
		return nil, err
	}
	d := p.dial
	d.TLS = d.TLS.Clone()
	d.TLS.Certificates = append([]tls.Certificate(nil), d.TLS.Certificates...)
	return &d, nil
}

// newCertProvider checks the certificate's dates and builds the Dial.
func newCertProvider(method, source string, s *profile.Settings, cert tls.Certificate) (*certProvider, error) {
	if err := CheckValidity(cert.Leaf, source, time.Now()); err != nil {
		return nil, err
	}
	d, err := certTLS(s, cert)
	if err != nil {
		return nil, err
	}
	return &certProvider{method: method, source: source, dial: *d, leaf: cert.Leaf, now: time.Now}, nil
}

func newMTLS(s *profile.Settings) (Provider, error) {
	if s.Cert == "" || s.Key == "" {
		return nil, errs.Usagef("auth mtls needs a certificate and its private key: give --cert and --key (PEM files)")
	}
	cert, err := LoadKeyPair(s.Cert, s.Key, s.KeyPassword)
	if err != nil {
		return nil, err
	}
	return newCertProvider("mtls", "certificate file "+s.Cert, s, cert)
}

// certTLS is the Dial of every client-certificate method. Transport is TLS
// (8883) unless the endpoint's scheme says wss (generic brokers); plain
// mqtt:// and ws:// cannot carry a client certificate. On port 443 without
// --alpn, ALPN x-amzn-mqtt-ca is offered, which AWS IoT Core requires there.
// A CONNECT username/password is allowed too, for generic brokers.
func certTLS(s *profile.Settings, cert tls.Certificate) (*Dial, error) {
	d := &Dial{}
	if err := applyCredentials(s, d); err != nil {
		return nil, err
	}
	if err := genericTransport(s, d, []tls.Certificate{cert}); err != nil {
		return nil, err
	}
	if d.Transport != TLS && d.Transport != WSS {
		return nil, errs.Usagef("endpoint %s: a client certificate needs TLS and this endpoint is unencrypted: use mqtts:// or wss://, or a host name without a scheme", s.Endpoint)
	}
	if d.Transport == TLS && resolvedPort(s, d) == 443 && !s.IsSet("alpn") && len(s.ALPN) == 0 {
		d.TLS.NextProtos = []string{alpnMutualTLS}
	}
	return d, nil
}

// resolvedPort is the port the session will dial: --port, else the
// endpoint's, else the method's default.
func resolvedPort(s *profile.Settings, d *Dial) int {
	if s.Port > 0 {
		return s.Port
	}
	if ep, err := profile.ParseEndpoint(s.Endpoint); err == nil && ep.Port > 0 {
		return ep.Port
	}
	return d.Port
}

// LoadKeyPair reads a PEM certificate (the leaf first, then any
// intermediates) and its PEM private key: RSA or EC in PKCS#1, SEC1 or
// PKCS#8, or Ed25519; legacy encrypted PEM ("Proc-Type: 4,ENCRYPTED") is
// decrypted with password. Every problem with the files is an errs.Usage
// error naming the file. Validity dates are not checked: see CheckValidity.
// The files are read by package certfile, as profile validate reads them.
func LoadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	return certfile.LoadKeyPair(certFile, keyFile, password)
}

// CheckValidity fails with errs.Usage when now is outside the certificate's
// validity period; source names where the certificate came from.
func CheckValidity(c *x509.Certificate, source string, now time.Time) error {
	return certfile.CheckValidity(c, source, now)
}
