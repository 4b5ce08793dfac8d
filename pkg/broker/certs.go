package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/iotctl/iotctl/internal/atomicfile"
)

// Names of the generated files under <Home>/broker.
const (
	caCertName     = "ca.pem"
	caKeyName      = "ca-key.pem"
	serverCertName = "server.pem"
	serverKeyName  = "server-key.pem"
)

// serverHosts are the names the generated server certificate is valid for.
var serverHosts = []string{"localhost", "127.0.0.1", "::1"}

// ensureCerts makes, or reuses from an earlier run, a CA and a server
// certificate signed by it in dir. The CA key is kept so the server
// certificate can be renewed without clients having to trust a new CA.
func ensureCerts(dir string) (certFile, keyFile, caFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", "", "", err
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	certFile, keyFile, caFile = path(serverCertName), path(serverKeyName), path(caCertName)
	now := time.Now()

	ca, caKey, err := loadPair(caFile, path(caKeyName))
	renew := err != nil || !ca.IsCA || ca.NotAfter.Before(now.AddDate(0, 1, 0))
	if renew {
		if ca, caKey, err = newCert(nil, nil, now); err != nil {
			return "", "", "", err
		}
		if err := writePair(caFile, path(caKeyName), ca, caKey); err != nil {
			return "", "", "", err
		}
	}
	if !renew && serverCertUsable(certFile, keyFile, ca, now) {
		return certFile, keyFile, caFile, nil
	}
	srv, srvKey, err := newCert(ca, caKey, now)
	if err != nil {
		return "", "", "", err
	}
	if err := writePair(certFile, keyFile, srv, srvKey); err != nil {
		return "", "", "", err
	}
	return certFile, keyFile, caFile, nil
}

// serverCertUsable: signed by ca, valid for a week more, for every host.
func serverCertUsable(certFile, keyFile string, ca *x509.Certificate, now time.Time) bool {
	cert, _, err := loadPair(certFile, keyFile)
	if err != nil {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range serverHosts {
		_, err := cert.Verify(x509.VerifyOptions{
			DNSName: h, Roots: roots, CurrentTime: now.AddDate(0, 0, 7),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return false
		}
	}
	return true
}

// loadPair reads a PEM certificate and its matching PEM key.
func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	return pair.Leaf, key, nil
}

// newCert makes a CA when parent is nil, else a server certificate for
// serverHosts signed by parent.
func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-time.Hour), // tolerate clock skew
	}
	if parent == nil {
		tmpl.Subject = pkix.Name{CommonName: "iotctl broker CA " + host, Organization: []string{"iotctl"}}
		tmpl.NotAfter = now.AddDate(10, 0, 0)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.MaxPathLenZero = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		parent, parentKey = tmpl, key
	} else {
		tmpl.Subject = pkix.Name{CommonName: "localhost", Organization: []string{"iotctl"}}
		tmpl.NotAfter = now.AddDate(1, 0, 0)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range serverHosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// writePair writes a key and its certificate, each atomically. A run that
// dies between the two leaves a mismatched pair, which the next run finds
// unloadable and replaces.
func writePair(certFile, keyFile string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return fmt.Errorf("write %s: %w", keyFile, err)
	}
	if err := atomicfile.Write(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})); err != nil {
		return fmt.Errorf("write %s: %w", certFile, err)
	}
	return nil
}
