package iot

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/iotctl/iotctl/pkg/broker"
)

// ALPN protocols IoT Core routes by on its TLS ports.
const (
	ALPNMutualTLS = "x-amzn-mqtt-ca" // mutual TLS on 443
	ALPNCustom    = "mqtt"           // custom authorizers on 443
)

// configureTLS adapts a TLS listener's configuration. On the MQTT over TLS
// listener each ClientHello is routed by its ALPN offer, as IoT Core does:
// x-amzn-mqtt-ca or nothing → mutual TLS (a client certificate is
// requested and required: some TLS stacks abort mutual TLS when the server
// does not request one), mqtt → custom authorizer (no client certificate).
// The chosen protocol is negotiated back. Secure websockets never ask for a
// client certificate: they authenticate with SigV4 or a custom authorizer.
func (e *Emulator) configureTLS(scheme string, c *tls.Config) {
	roots := c.ClientCAs
	switch scheme {
	case broker.WSS:
		c.ClientAuth, c.ClientCAs = tls.NoClientCert, nil
	case broker.MQTTS:
		mtls := c.Clone()
		// Requested here, required and verified by verifyClientCert, which
		// logs why a certificate is refused (also when none is sent).
		mtls.ClientAuth = tls.RequestClientCert
		mtls.VerifyPeerCertificate = e.verifyClientCert(roots)
		// The CAs named in the request, by which clients pick their
		// certificate (none named: any certificate).
		if roots != nil {
			mtls.ClientCAs = roots.Clone()
			mtls.ClientCAs.AddCert(e.prov.ca.cert)
		}
		custom := c.Clone()
		custom.ClientAuth, custom.ClientCAs = tls.NoClientCert, nil
		custom.NextProtos = []string{ALPNCustom}
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			switch {
			case slices.Contains(hello.SupportedProtos, ALPNMutualTLS):
				m := mtls.Clone()
				m.NextProtos = []string{ALPNMutualTLS}
				return m, nil
			case slices.Contains(hello.SupportedProtos, ALPNCustom):
				return custom, nil
			}
			return mtls, nil
		}
	}
}

// verifyClientCert verifies a client certificate against the --client-ca
// pool, as RequireAndVerifyClientCert would, and logs why one is refused.
func (e *Emulator) verifyClientCert(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		certs := make([]*x509.Certificate, 0, len(raw))
		for _, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				e.log.Warn("IoT: TLS client certificate refused", "reason", "unparsable certificate: "+err.Error())
				return fmt.Errorf("client certificate: %w", err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			e.log.Warn("IoT: TLS client certificate refused", "reason", "no client certificate: mutual TLS (ALPN x-amzn-mqtt-ca or none) needs one issued by --client-ca (some clients withhold a certificate of another CA); custom authorizers offer ALPN mqtt")
			return errors.New("no client certificate")
		}
		leaf := certs[0]
		if e.prov.ca.issuedBy(leaf) {
			return e.verifyProvisioned(leaf)
		}
		if roots == nil {
			e.log.Warn("IoT: TLS client certificate refused", "certificate", describe(leaf), "reason", "no CA registered: start the broker with --client-ca")
			return errors.New("no client CA registered")
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   e.cfg.Now(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			e.log.Warn("IoT: TLS client certificate refused", "certificate", describe(leaf), "reason", err.Error())
			return err
		}
		return nil
	}
}

// CertificateID is the AWS IoT certificate ID of a DER certificate.
func CertificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q (ID %s, issuer %q)", c.Subject.String(), CertificateID(c.Raw), c.Issuer.String())
}

// verifyProvisioned accepts a certificate of fleet provisioning once
// RegisterThing has made it ACTIVE, as IoT Core does.
func (e *Emulator) verifyProvisioned(leaf *x509.Certificate) error {
	id := CertificateID(leaf.Raw)
	switch st := e.prov.status(id); st {
	case statusActive:
		return nil
	case "":
		e.log.Warn("IoT: TLS client certificate refused", "certificate", describe(leaf), "reason", "issued by fleet provisioning but unknown to it (forgotten: the state directory was not kept, or RegisterThing never came within an hour)")
		return errors.New("unknown certificate")
	default:
		e.log.Warn("IoT: TLS client certificate refused", "certificate", describe(leaf), "reason", "certificate is "+st+": RegisterThing with a template whose Certificate resource has Status ACTIVE activates it")
		return errors.New("certificate " + st)
	}
}
