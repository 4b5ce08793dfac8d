package auth

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/iotctl/iotctl/internal/testpki"
)

func encodeP12(t *testing.T, enc *pkcs12.Encoder, key any, cert *x509.Certificate, cas []*x509.Certificate, password string) []byte {
	t.Helper()
	data, err := enc.Encode(key, cert, cas, password)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPKCS12Handshake(t *testing.T) {
	w := newCertWorld(t)
	const pw = "p12-Secret"
	for _, kt := range []struct {
		name string
		kt   testpki.KeyType
	}{{"RSA", testpki.RSA}, {"EC", testpki.EC}} {
		t.Run(kt.name, func(t *testing.T) {
			inter, leaf, key := w.intermediate(t, kt.kt)
			file := testpki.Write(t, t.TempDir(), "client.p12", encodeP12(t, pkcs12.Modern, key, leaf, []*x509.Certificate{inter}, pw))
			p, d := certPrepare(t, certSettings(t, map[string]string{"pkcs12-file": file, "pkcs12-password": pw, "ca-file": w.caFile}))
			if p.Method() != "pkcs12" {
				t.Fatalf("method %q, inferred from --pkcs12-file, want pkcs12", p.Method())
			}
			if !p.(CertificateProvider).Leaf().Equal(leaf) || len(d.TLS.Certificates[0].Certificate) != 2 {
				t.Fatal("leaf and intermediate not loaded")
			}
			if d.Transport != TLS || d.Port != 8883 {
				t.Fatalf("transport %s port %d", d.Transport, d.Port)
			}
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				w.wantHandshake(t, d, v, leaf)
			}
		})
	}

	t.Run("legacy encryption, CA certificate first, port 443", func(t *testing.T) {
		inter, leaf, key := w.intermediate(t, testpki.RSA)
		// The file's first certificate is the CA: the one matching the key is the leaf.
		file := testpki.Write(t, t.TempDir(), "legacy.pfx", encodeP12(t, pkcs12.LegacyRC2, key, inter, []*x509.Certificate{leaf}, pw))
		_, d := certPrepare(t, certSettings(t, map[string]string{"pkcs12-file": file, "pkcs12-password": pw, "ca-file": w.caFile, "port": "443"}))
		st := w.wantHandshake(t, d, tls.VersionTLS13, leaf)
		if st.NegotiatedProtocol != alpnMutualTLS {
			t.Fatalf("ALPN %q on 443", st.NegotiatedProtocol)
		}
	})

	t.Run("no password", func(t *testing.T) {
		leaf := w.clientCA.Client(t, "nopw", testpki.Options{})
		file := testpki.Write(t, t.TempDir(), "open.p12", encodeP12(t, pkcs12.Passwordless, leaf.Key, leaf.Cert, nil, ""))
		_, d := certPrepare(t, certSettings(t, map[string]string{"pkcs12-file": file, "ca-file": w.caFile}))
		w.wantHandshake(t, d, tls.VersionTLS12, leaf.Cert)
	})
}

func TestPKCS12Errors(t *testing.T) {
	ca := testpki.NewCA(t, "CA")
	leaf := ca.Client(t, "c", testpki.Options{})
	other := ca.Client(t, "o", testpki.Options{})
	now := time.Now()
	expired := ca.Client(t, "old", testpki.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	dir := t.TempDir()
	const pw = "right-password"
	good := testpki.Write(t, dir, "good.p12", encodeP12(t, pkcs12.Modern, leaf.Key, leaf.Cert, nil, pw))
	legacy := testpki.Write(t, dir, "legacy.p12", encodeP12(t, pkcs12.LegacyDES, leaf.Key, leaf.Cert, nil, pw))

	tests := []struct {
		name  string
		flags map[string]string
		want  []string
	}{
		{"wrong password", map[string]string{"pkcs12-file": good, "pkcs12-password": "wrong-one"},
			[]string{"wrong PKCS#12 password for " + good, "--pkcs12-password", "IOTCTL_PKCS12_PASSWORD"}},
		{"wrong password, legacy file", map[string]string{"pkcs12-file": legacy, "pkcs12-password": "wrong-one"},
			[]string{"wrong PKCS#12 password for " + legacy}},
		{"password missing", map[string]string{"pkcs12-file": good},
			[]string{good, "protected by a password", "--pkcs12-password"}},
		{"missing file", map[string]string{"pkcs12-file": filepath.Join(dir, "none.p12")},
			[]string{"none.p12", "no such file", "--pkcs12-file"}},
		{"empty file", map[string]string{"pkcs12-file": testpki.Write(t, dir, "empty.p12", nil)},
			[]string{"empty.p12", "empty"}},
		{"PEM file", map[string]string{"pkcs12-file": testpki.Write(t, dir, "pem.p12", leaf.CertPEM)},
			[]string{"pem.p12", "PEM file", "--cert and --key"}},
		{"garbage", map[string]string{"pkcs12-file": testpki.Write(t, dir, "junk.p12", []byte{0x30, 0x03, 1, 2, 3}), "pkcs12-password": pw},
			[]string{"junk.p12", "cannot be read"}},
		{"key does not match any certificate", map[string]string{"pkcs12-password": pw,
			"pkcs12-file": testpki.Write(t, dir, "mismatch.p12", encodeP12(t, pkcs12.Modern, other.Key, leaf.Cert, nil, pw))},
			[]string{"mismatch.p12", "matches its private key"}},
		{"expired certificate", map[string]string{"pkcs12-password": pw,
			"pkcs12-file": testpki.Write(t, dir, "expired.p12", encodeP12(t, pkcs12.Modern, expired.Key, expired.Cert, nil, pw))},
			[]string{"PKCS#12 file", "expired.p12", "expired on"}},
		{"no file given", map[string]string{"auth": "pkcs12"}, []string{"--pkcs12-file"}},
		{"mqtt:// endpoint", map[string]string{"pkcs12-file": good, "pkcs12-password": pw, "endpoint": "mqtt://h"}, []string{"needs TLS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(certSettings(t, tc.flags))
			certWantUsage(t, err, tc.want...)
			for _, secret := range []string{pw, "wrong-one"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a password: %v", err)
				}
			}
		})
	}
}
