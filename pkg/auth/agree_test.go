package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/certfile"
)

// TestCheckAndLoaderAgree runs every certificate and key file the test
// PKI can make through 'profile validate”s file checks and through the
// auth method that loads it: validate must fail exactly the files the
// method refuses (its warnings never stop a connection).
func TestCheckAndLoaderAgree(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "agree CA")
	now := time.Now()
	rsaLeaf := ca.Client(t, "rsa", testpki.Options{KeyType: testpki.RSA})
	ecLeaf := ca.Client(t, "ec", testpki.Options{KeyType: testpki.EC})
	other := ca.Client(t, "other", testpki.Options{})
	expired := ca.Client(t, "expired", testpki.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := ca.Client(t, "future", testpki.Options{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	soon := ca.Client(t, "soon", testpki.Options{NotAfter: now.Add(5 * 24 * time.Hour)})
	sec1, err := x509.MarshalECPrivateKey(ecLeaf.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaLeaf.Key.(*rsa.PrivateKey))
	const pw = "agree-Key-pw"
	file := func(name string, data []byte) string { return testpki.Write(t, dir, name, data) }
	cert := func(l *testpki.Leaf) string { return file(l.Cert.Subject.CommonName+".crt", l.CertPEM) }
	p12 := func(name string, l *testpki.Leaf, enc *pkcs12.Encoder) string {
		data, err := enc.Encode(l.Key, l.Cert, []*x509.Certificate{ca.Cert}, pw)
		if err != nil {
			t.Fatal(err)
		}
		return file(name, data)
	}
	rsaCert, ecCert := cert(rsaLeaf), cert(ecLeaf)
	type m = map[string]string
	cases := []struct {
		name     string
		settings m
		ok       bool
	}{
		{"RSA PKCS#1", m{"cert": rsaCert, "key": file("rsa1.key", pemKey(t, "RSA PRIVATE KEY", pkcs1))}, true},
		{"RSA PKCS#8", m{"cert": rsaCert, "key": file("rsa8.key", rsaLeaf.KeyPEM)}, true},
		{"EC SEC1", m{"cert": ecCert, "key": file("ec1.key", pemKey(t, "EC PRIVATE KEY", sec1))}, true},
		{"EC PKCS#8", m{"cert": ecCert, "key": file("ec8.key", ecLeaf.KeyPEM)}, true},
		{"PKCS#8 labelled PKCS#1", m{"cert": ecCert, "key": file("ecx.key", pemKey(t, "RSA PRIVATE KEY", pemDER(t, ecLeaf.KeyPEM)))}, true},
		{"legacy encrypted RSA, right password", m{"cert": rsaCert, "key": file("rsae.key", legacyEncrypted(t, "RSA PRIVATE KEY", pkcs1, pw)), "key-password": pw}, true},
		{"legacy encrypted EC, right password", m{"cert": ecCert, "key": file("ece.key", legacyEncrypted(t, "EC PRIVATE KEY", sec1, pw)), "key-password": pw}, true},
		{"legacy encrypted, wrong password", m{"cert": rsaCert, "key": file("rsaw.key", legacyEncrypted(t, "RSA PRIVATE KEY", pkcs1, pw)), "key-password": "not-it"}, false},
		{"legacy encrypted, no password", m{"cert": ecCert, "key": file("ecn.key", legacyEncrypted(t, "EC PRIVATE KEY", sec1, pw))}, false},
		{"encrypted PKCS#8, password", m{"cert": ecCert, "key": file("p8e.key", pemKey(t, "ENCRYPTED PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00})), "key-password": pw}, false},
		{"encrypted PKCS#8, no password", m{"cert": ecCert, "key": file("p8n.key", pemKey(t, "ENCRYPTED PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00}))}, false},
		{"mismatched pair", m{"cert": rsaCert, "key": file("other.key", other.KeyPEM)}, false},
		{"expired certificate", m{"cert": cert(expired), "key": file("expired.key", expired.KeyPEM)}, false},
		{"certificate not valid yet", m{"cert": cert(future), "key": file("future.key", future.KeyPEM)}, false},
		{"certificate expiring soon", m{"cert": cert(soon), "key": file("soon.key", soon.KeyPEM)}, true},
		{"swapped cert and key", m{"cert": file("swap.crt", ecLeaf.KeyPEM), "key": file("swap.key", ecLeaf.CertPEM)}, false},
		{"garbage key", m{"cert": ecCert, "key": file("bad.key", pemKey(t, "PRIVATE KEY", []byte{1, 2, 3}))}, false},
		{"DER certificate", m{"cert": file("der.crt", ecLeaf.DER), "key": file("der.key", ecLeaf.KeyPEM)}, false},
		{"empty key", m{"cert": ecCert, "key": file("empty.key", nil)}, false},
		{"PKCS#12, right password", m{"pkcs12-file": p12("good.p12", ecLeaf, pkcs12.Modern), "pkcs12-password": pw}, true},
		{"PKCS#12 legacy, right password", m{"pkcs12-file": p12("legacy.p12", rsaLeaf, pkcs12.LegacyDES), "pkcs12-password": pw}, true},
		{"PKCS#12, wrong password", m{"pkcs12-file": p12("wrong.p12", ecLeaf, pkcs12.Modern), "pkcs12-password": "not-it"}, false},
		{"PKCS#12, no password", m{"pkcs12-file": p12("nopw.p12", ecLeaf, pkcs12.Modern)}, false},
		{"PKCS#12, expired", m{"pkcs12-file": p12("expired.p12", expired, pkcs12.Modern), "pkcs12-password": pw}, false},
		{"PKCS#12 that is PEM", m{"pkcs12-file": ecCert, "pkcs12-password": pw}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := certSettings(t, c.settings)
			var failed []string
			for _, ch := range certfile.CheckFiles(s, time.Now()) {
				if ch.Status == certfile.CheckFail {
					failed = append(failed, ch.Setting+": "+ch.Detail)
				}
			}
			_, err := New(s)
			if checkOK := len(failed) == 0; checkOK != c.ok || (err == nil) != c.ok {
				t.Errorf("want ok=%v; profile check failures %q; auth loader error: %v", c.ok, failed, err)
			}
			for _, secret := range []string{pw, "not-it"} {
				if strings.Contains(strings.Join(failed, " "), secret) {
					t.Errorf("check detail shows a password: %q", failed)
				}
			}
		})
	}
}

func pemDER(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("want a PEM block")
	}
	return b.Bytes
}
