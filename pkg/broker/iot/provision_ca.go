package iot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iotctl/iotctl/internal/atomicfile"
)

// The provisioning CA issues the certificates of fleet provisioning. Its
// key never leaves the emulator (StateDir/provisioning/ca-key.pem when
// there is a state directory); the mutual TLS listener trusts it beside
// --client-ca.

// ownershipTokenTTL is how long a certificate ownership token is good for,
// as on IoT Core.
const ownershipTokenTTL = time.Hour

// certificatesNotAfter is when IoT Core's issued certificates expire.
var certificatesNotAfter = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)

type provisioningCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	tokenKey []byte // HMAC key of ownership tokens, derived from the CA key
}

// loadProvisioningCA reads the CA from dir, or makes one (and keeps it in
// dir unless dir is "").
func loadProvisioningCA(dir string, now time.Time) (*provisioningCA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if dir != "" {
		ca, err := readProvisioningCA(certFile, keyFile)
		if err == nil {
			return ca, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("provisioning CA: %v: move %s away to make a new CA", err, dir)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "iotctl broker --iot provisioning CA", Organization: []string{"iotctl"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              certificatesNotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})); err != nil {
			return nil, fmt.Errorf("provisioning CA: %v", err)
		}
		if err := atomicfile.Write(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
			return nil, fmt.Errorf("provisioning CA: %v", err)
		}
	}
	return newProvisioningCA(cert, key)
}

func readProvisioningCA(certFile, keyFile string) (*provisioningCA, error) {
	cpem, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kpem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(cpem)
	kb, _ := pem.Decode(kpem)
	if cb == nil || kb == nil {
		return nil, errors.New("no PEM in " + certFile + " or " + keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New(keyFile + " is not the key of " + certFile)
	}
	return newProvisioningCA(cert, key)
}

func newProvisioningCA(cert *x509.Certificate, key *ecdsa.PrivateKey) (*provisioningCA, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte("iotctl certificate ownership token"))
	return &provisioningCA{cert: cert, key: key, tokenKey: mac.Sum(nil)}, nil
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// issue signs a client certificate for pub.
func (ca *provisioningCA) issue(pub crypto.PublicKey, subject pkix.Name, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     certificatesNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// issuedBy reports whether c was signed by this CA.
func (ca *provisioningCA) issuedBy(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(ca.cert) == nil
}

// newKeyPair is what CreateKeysAndCertificate hands out: an RSA 2048 key,
// PEM "RSA PRIVATE KEY", as IoT Core's.
func newKeyPair() (*rsa.PrivateKey, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return key, string(p), nil
}

// ownershipClaim is what an ownership token says.
type ownershipClaim struct {
	CertificateID string `json:"c"`
	Expires       int64  `json:"e"`
}

// token issues an ownership token for a certificate: the claim and its
// HMAC, so that only this emulator (this CA) issues valid ones.
func (ca *provisioningCA) token(certID string, now time.Time) string {
	claim, _ := json.Marshal(ownershipClaim{CertificateID: certID, Expires: now.Add(ownershipTokenTTL).Unix()})
	body := base64.RawURLEncoding.EncodeToString(claim)
	return body + "." + base64.RawURLEncoding.EncodeToString(ca.sign(body))
}

func (ca *provisioningCA) sign(body string) []byte {
	mac := hmac.New(sha256.New, ca.tokenKey)
	mac.Write([]byte(body))
	return mac.Sum(nil)
}

// Token rejections.
var (
	errTokenInvalid = &provError{400, "InvalidCertificateOwnershipToken", "Certificate ownership token is not valid."}
	errTokenExpired = &provError{400, "InvalidCertificateOwnershipToken", "Certificate ownership token has expired."}
)

// verifyToken returns the certificate ID an ownership token is for.
func (ca *provisioningCA) verifyToken(tok string, now time.Time) (string, *provError) {
	body, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return "", errTokenInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, ca.sign(body)) {
		return "", errTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", errTokenInvalid
	}
	var c ownershipClaim
	if json.Unmarshal(raw, &c) != nil || !isCertID(c.CertificateID) {
		return "", errTokenInvalid
	}
	if now.Unix() >= c.Expires {
		return "", errTokenExpired
	}
	return c.CertificateID, nil
}
