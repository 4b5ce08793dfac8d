package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

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
func LoadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	chain, err := loadCertChain(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := loadPrivateKey(keyFile, password)
	if err != nil {
		return tls.Certificate{}, err
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return tls.Certificate{}, errs.Usagef("key file %s does not match the certificate in %s (%s): give the private key that belongs to this certificate", keyFile, certFile, describeCert(chain[0]))
	}
	return tlsCertificate(chain, key), nil
}

// CheckValidity fails with errs.Usage when now is outside the certificate's
// validity period; source names where the certificate came from.
func CheckValidity(c *x509.Certificate, source string, now time.Time) error {
	const layout = "2006-01-02 15:04:05 MST"
	from, until := c.NotBefore.UTC().Format(layout), c.NotAfter.UTC().Format(layout)
	switch {
	case now.Before(c.NotBefore):
		return errs.Usagef("%s: certificate %s is not valid yet: valid from %s until %s: check the system clock, or wait", source, describeCert(c), from, until)
	case now.After(c.NotAfter):
		return errs.Usagef("%s: certificate %s expired on %s (valid from %s): use a current certificate", source, describeCert(c), until, from)
	}
	return nil
}

func tlsCertificate(chain []*x509.Certificate, key crypto.Signer) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// describeCert names a certificate in messages.
func describeCert(c *x509.Certificate) string {
	if cn := c.Subject.CommonName; cn != "" {
		return fmt.Sprintf("%q", "CN="+cn)
	}
	return fmt.Sprintf("with serial %s", c.SerialNumber)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// readPEMFile reads a file that must hold PEM blocks; what names the file
// ("certificate file") and flag the setting that gave it.
func readPEMFile(path, what, flag string) ([]*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Usagef("%s %s: %v: check %s", what, path, unwrapPathErr(err), flag)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errs.Usagef("%s %s: the file is empty: check %s", what, path, flag)
	}
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, errs.Usagef("%s %s: no PEM data in it (a DER or PKCS#12 file?): give a PEM file (-----BEGIN ...), e.g. converted with openssl x509 -inform der / openssl pkcs12, or use --auth pkcs12", what, path)
	}
	return blocks, nil
}

func isKeyBlock(typ string) bool {
	return typ == "PRIVATE KEY" || typ == "ENCRYPTED PRIVATE KEY" || strings.HasSuffix(typ, " PRIVATE KEY")
}

// loadCertChain reads a PEM certificate file: the leaf first, then
// intermediates. Other PEM blocks are skipped; a file of keys only is an error.
func loadCertChain(path string) ([]*x509.Certificate, error) {
	blocks, err := readPEMFile(path, "certificate file", "--cert")
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	var other []string
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			other = append(other, b.Type)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errs.Usagef("certificate file %s: PEM block %d is not a valid certificate: %v", path, i+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		if isKeyBlock(other[0]) {
			return nil, errs.Usagef("certificate file %s holds a private key (%s), not a certificate: were --cert and --key swapped?", path, other[0])
		}
		return nil, errs.Usagef("certificate file %s holds %s, not a CERTIFICATE: give the client certificate", path, other[0])
	}
	return chain, nil
}

// loadPrivateKey reads the first private key of a PEM file.
func loadPrivateKey(path, password string) (crypto.Signer, error) {
	blocks, err := readPEMFile(path, "key file", "--key")
	if err != nil {
		return nil, err
	}
	var block *pem.Block
	var other []string
	for _, b := range blocks {
		if isKeyBlock(b.Type) {
			block = b
			break
		}
		other = append(other, b.Type) // e.g. the EC PARAMETERS of openssl ecparam
	}
	if block == nil {
		if other[0] == "CERTIFICATE" {
			return nil, errs.Usagef("key file %s holds a certificate, not a private key: were --cert and --key swapped?", path)
		}
		return nil, errs.Usagef("key file %s holds %s, not a private key: give the client's private key", path, strings.Join(other, ", "))
	}

	der := block.Bytes
	decrypted := false
	switch {
	case block.Type == "ENCRYPTED PRIVATE KEY":
		// Neither the standard library nor golang.org/x/crypto decrypts
		// PKCS#8 (PBES2); go-pkcs12 does, but only inside a PKCS#12 file.
		return nil, errs.Usagef("key file %s is an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY), which iotctl cannot decrypt: "+
			"bundle it with its certificate into a PKCS#12 file (openssl pkcs12 -export -in CERT -inkey %s -out client.p12) and use --pkcs12-file, "+
			"or convert it to legacy encrypted PEM (openssl pkey -in %s -aes256 -traditional -out key.pem)", path, path, path)
	// Legacy encrypted PEM is deprecated (unauthenticated), but it is what
	// openssl -traditional and many device toolchains still write.
	case x509.IsEncryptedPEMBlock(block): //nolint:staticcheck
		if password == "" {
			return nil, errs.Usagef("key file %s is encrypted: give its password with --key-password or IOTCTL_KEY_PASSWORD", path)
		}
		der, err = x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck
		if err != nil {
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, wrongKeyPassword(path)
			}
			return nil, errs.Usagef("key file %s: cannot decrypt it: %v", path, err)
		}
		decrypted = true
	}

	key, err := parsePrivateKey(der)
	if err != nil {
		if decrypted {
			// A wrong password mostly shows as garbage after decryption.
			return nil, wrongKeyPassword(path)
		}
		return nil, errs.Usagef("key file %s: %s block is not a private key iotctl can read (RSA, EC or Ed25519 in PKCS#1, SEC1 or PKCS#8): %v", path, block.Type, err)
	}
	return key, nil
}

func wrongKeyPassword(path string) error {
	return errs.Usagef("wrong password for key file %s: check --key-password or IOTCTL_KEY_PASSWORD", path)
}

// parsePrivateKey tries PKCS#1, PKCS#8 and SEC1 whatever the PEM type says,
// as crypto/tls does: files in the wild mislabel them.
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T cannot sign", k)
		}
		return s, nil
	}
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, errors.New("not PKCS#1, PKCS#8 or SEC1")
	}
	return k, nil
}
