package provision

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
)

// maxCSR bounds what --csr reads: a CSR is a few kilobytes.
const maxCSR = 64 << 10

// newKey is --create-key: an ECDSA P-256 key made here, its PKCS#8 PEM
// and a CSR for it, so the key never leaves the device.
func newKey() (key crypto.Signer, keyPEM, csrPEM []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, nil, err
	}
	// AWS IoT sets the certificate's subject itself; the CSR only carries
	// the public key, signed.
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		return nil, nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), nil
}

// readCSR reads --csr: one PEM CERTIFICATE REQUEST whose signature holds.
// It returns the request and its PEM as sent.
func readCSR(path string) (*x509.CertificateRequest, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, errs.Usagef("provision: --csr %s: %v: give a PEM certificate signing request", path, certfile.UnwrapPathErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCSR+1))
	if err != nil {
		return nil, nil, errs.Usagef("provision: --csr %s: %v", path, certfile.UnwrapPathErr(err))
	}
	if len(data) > maxCSR {
		return nil, nil, errs.Usagef("provision: --csr %s: over %d KiB: give a PEM certificate signing request", path, maxCSR>>10)
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, nil, errs.Usagef("provision: --csr %s: no PEM CERTIFICATE REQUEST in it: make one with openssl req -new -key KEY -out device.csr", path)
		}
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			continue
		}
		csr, err := x509.ParseCertificateRequest(b.Bytes)
		if err != nil {
			return nil, nil, errs.Usagef("provision: --csr %s: not a valid certificate request: %v", path, err)
		}
		if err := csr.CheckSignature(); err != nil {
			return nil, nil, errs.Usagef("provision: --csr %s: its signature does not verify: %v", path, err)
		}
		if why := certfile.IoTKeyProblem(csr.PublicKey); why != "" {
			return nil, nil, errs.Usagef("provision: --csr %s: %s", path, why)
		}
		return csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: b.Bytes}), nil
	}
}

// checkIssued checks what the service issued before anything is written:
// the certificate parses and is for the key (the one made here, the
// service's, or the CSR's public key).
func checkIssued(op string, got *issued, key crypto.Signer, csrPub crypto.PublicKey) error {
	certs, err := certfile.ParseChain("certificatePem", []byte(got.CertificatePEM))
	if err != nil {
		return badAnswer(op, err.Error())
	}
	var want crypto.PublicKey
	switch {
	case key != nil:
		want = key.Public()
	case csrPub != nil:
		want = csrPub
	default:
		if _, err := tls.X509KeyPair([]byte(got.CertificatePEM), []byte(got.PrivateKey)); err != nil {
			return badAnswer(op, "privateKey does not match certificatePem: "+err.Error())
		}
		return nil
	}
	if !certfile.PublicKeysEqual(certs[0].PublicKey, want) {
		return badAnswer(op, fmt.Sprintf("the certificate %s is not for the key of the request", got.CertificateID))
	}
	return nil
}
