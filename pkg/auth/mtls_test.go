package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
)

func pemKey(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// legacyEncrypted is what openssl -traditional -aes256 writes.
func legacyEncrypted(t *testing.T, typ string, der []byte, password string) []byte {
	t.Helper()
	b, err := x509.EncryptPEMBlock(rand.Reader, typ, der, []byte(password), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(b)
}

func TestLoadKeyPair(t *testing.T) {
	ca := testpki.NewCA(t, "client CA")
	rsaLeaf := ca.Client(t, "rsa-client", testpki.Options{KeyType: testpki.RSA})
	ecLeaf := ca.Client(t, "ec-client", testpki.Options{KeyType: testpki.EC})
	other := ca.Client(t, "other", testpki.Options{KeyType: testpki.EC})
	rsaKey := rsaLeaf.Key.(*rsa.PrivateKey)
	ecKey := ecLeaf.Key.(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaKey)
	ecPKCS8, _ := pem.Decode(ecLeaf.KeyPEM)
	const pw = "s3cret-Key-pw"
	ecParams := pemKey(t, "EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	dir := t.TempDir()
	rsaCert := testpki.Write(t, dir, "rsa.crt", rsaLeaf.CertPEM)
	ecCert := testpki.Write(t, dir, "ec.crt", ecLeaf.CertPEM)
	file := func(name string, data []byte) string { return testpki.Write(t, dir, name, data) }

	tests := []struct {
		name     string
		cert     string
		key      string
		password string
		want     []string // usage error parts; nil: success
	}{
		{name: "RSA PKCS#1", cert: rsaCert, key: file("rsa1.key", pemKey(t, "RSA PRIVATE KEY", pkcs1))},
		{name: "RSA PKCS#8", cert: rsaCert, key: file("rsa8.key", rsaLeaf.KeyPEM)},
		{name: "EC SEC1", cert: ecCert, key: file("ec1.key", pemKey(t, "EC PRIVATE KEY", sec1))},
		{name: "EC SEC1 after EC PARAMETERS", cert: ecCert, key: file("ecp.key", append(ecParams, pemKey(t, "EC PRIVATE KEY", sec1)...))},
		{name: "EC PKCS#8", cert: ecCert, key: file("ec8.key", ecLeaf.KeyPEM)},
		// Files in the wild label PKCS#8 as RSA PRIVATE KEY and the like.
		{name: "PKCS#8 mislabelled", cert: ecCert, key: file("ecx.key", pemKey(t, "RSA PRIVATE KEY", ecPKCS8.Bytes))},
		{name: "legacy encrypted RSA, right password", cert: rsaCert, key: file("rsae.key", legacyEncrypted(t, "RSA PRIVATE KEY", pkcs1, pw)), password: pw},
		{name: "legacy encrypted EC, right password", cert: ecCert, key: file("ece.key", legacyEncrypted(t, "EC PRIVATE KEY", sec1, pw)), password: pw},
		{name: "legacy encrypted, wrong password", cert: rsaCert, key: file("rsaw.key", legacyEncrypted(t, "RSA PRIVATE KEY", pkcs1, pw)), password: "not-it-at-all",
			want: []string{"wrong password for key file", "rsaw.key", "--key-password"}},
		{name: "legacy encrypted EC, wrong password", cert: ecCert, key: file("ecw.key", legacyEncrypted(t, "EC PRIVATE KEY", sec1, pw)), password: "not-it-at-all",
			want: []string{"wrong password for key file", "ecw.key"}},
		{name: "legacy encrypted, no password", cert: rsaCert, key: file("rsan.key", legacyEncrypted(t, "RSA PRIVATE KEY", pkcs1, pw)),
			want: []string{"rsan.key", "is encrypted", "--key-password", "IOTCTL_KEY_PASSWORD"}},
		{name: "encrypted PKCS#8", cert: ecCert, key: file("p8e.key", pemKey(t, "ENCRYPTED PRIVATE KEY", []byte{0x30, 0x03, 0x02, 0x01, 0x00})), password: pw,
			want: []string{"p8e.key", "encrypted PKCS#8", "openssl pkcs12 -export", "--pkcs12-file"}},
		{name: "key does not match", cert: rsaCert, key: file("other.key", other.KeyPEM),
			want: []string{"other.key", "does not match the certificate in", "rsa.crt", "rsa-client"}},
		{name: "key given as cert", cert: file("swap.crt", ecLeaf.KeyPEM), key: file("swap.key", ecLeaf.KeyPEM),
			want: []string{"certificate file", "swap.crt", "holds a private key", "swapped"}},
		{name: "cert given as key", cert: ecCert, key: file("cert-as.key", ecLeaf.CertPEM),
			want: []string{"key file", "cert-as.key", "holds a certificate", "swapped"}},
		{name: "CSR as cert", cert: file("req.crt", pemKey(t, "CERTIFICATE REQUEST", []byte{1})), key: file("k.key", ecLeaf.KeyPEM),
			want: []string{"req.crt", "CERTIFICATE REQUEST"}},
		{name: "missing cert", cert: filepath.Join(dir, "nope.crt"), key: file("m.key", ecLeaf.KeyPEM),
			want: []string{"certificate file", "nope.crt", "no such file", "--cert"}},
		{name: "missing key", cert: ecCert, key: filepath.Join(dir, "nope.key"),
			want: []string{"key file", "nope.key", "no such file", "--key"}},
		{name: "unreadable cert (a directory)", cert: dir, key: file("d.key", ecLeaf.KeyPEM),
			want: []string{"certificate file", dir}},
		{name: "empty cert", cert: file("empty.crt", nil), key: file("e.key", ecLeaf.KeyPEM),
			want: []string{"empty.crt", "empty"}},
		{name: "empty key", cert: ecCert, key: file("empty.key", []byte("\n \n")),
			want: []string{"empty.key", "empty"}},
		{name: "DER cert", cert: file("der.crt", ecLeaf.DER), key: file("der.key", ecLeaf.KeyPEM),
			want: []string{"der.crt", "no PEM data"}},
		{name: "non-PEM key", cert: ecCert, key: file("text.key", []byte("hello")),
			want: []string{"text.key", "no PEM data"}},
		{name: "garbage certificate", cert: file("bad.crt", pemKey(t, "CERTIFICATE", []byte{1, 2, 3})), key: file("b.key", ecLeaf.KeyPEM),
			want: []string{"bad.crt", "not a valid certificate"}},
		{name: "garbage key", cert: ecCert, key: file("bad.key", pemKey(t, "PRIVATE KEY", []byte{1, 2, 3})),
			want: []string{"bad.key", "not a private key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadKeyPair(tc.cert, tc.key, tc.password)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if c.Leaf == nil || len(c.Certificate) != 1 || c.PrivateKey == nil {
					t.Fatalf("incomplete certificate: %+v", c)
				}
				return
			}
			certWantUsage(t, err, tc.want...)
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestCheckValidity(t *testing.T) {
	ca := testpki.NewCA(t, "CA")
	from := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	until := time.Date(2031, 6, 7, 8, 9, 10, 0, time.UTC)
	c := ca.Client(t, "dated", testpki.Options{NotBefore: from, NotAfter: until}).Cert

	if err := CheckValidity(c, "certificate file c.pem", from.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	certWantUsage(t, CheckValidity(c, "certificate file c.pem", from.Add(-time.Second)),
		"certificate file c.pem", "not valid yet", "2030-01-02 03:04:05 UTC", "2031-06-07 08:09:10 UTC", "dated")
	certWantUsage(t, CheckValidity(c, "certificate file c.pem", until.Add(time.Second)),
		"certificate file c.pem", "expired on 2031-06-07 08:09:10 UTC", "valid from 2030-01-02 03:04:05 UTC", "current certificate")
}

func TestMTLSValidityBeforeConnecting(t *testing.T) {
	w := newCertWorld(t)
	now := time.Now()
	for _, tc := range []struct {
		name string
		opts testpki.Options
		want string
	}{
		{"expired", testpki.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, "expired on"},
		{"not yet valid", testpki.Options{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}, "not valid yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := w.clientCA.Client(t, tc.name, tc.opts)
			cert, key := leaf.Files(t, t.TempDir(), "c")
			// LoadKeyPair leaves the dates to CheckValidity (whoami shows expired certificates).
			if _, err := LoadKeyPair(cert, key, ""); err != nil {
				t.Fatal(err)
			}
			_, err := New(certSettings(t, map[string]string{"cert": cert, "key": key, "ca-file": w.caFile}))
			certWantUsage(t, err, tc.want, cert)
		})
	}

	// A provider whose certificate expires while the command runs says so
	// on the next attempt instead of failing the handshake.
	leaf := w.clientCA.Client(t, "soon", testpki.Options{})
	cert, key := leaf.Files(t, t.TempDir(), "c")
	p, err := New(certSettings(t, map[string]string{"cert": cert, "key": key}))
	if err != nil {
		t.Fatal(err)
	}
	p.(*certProvider).now = func() time.Time { return leaf.Cert.NotAfter.Add(time.Minute) }
	_, err = p.Prepare(context.Background())
	certWantUsage(t, err, "expired", cert)
}

func TestMTLSHandshake(t *testing.T) {
	w := newCertWorld(t)
	for _, kt := range []struct {
		name string
		kt   testpki.KeyType
	}{{"RSA", testpki.RSA}, {"EC", testpki.EC}} {
		t.Run(kt.name, func(t *testing.T) {
			leaf := w.clientCA.Client(t, "client-"+kt.name, testpki.Options{KeyType: kt.kt})
			cert, key := leaf.Files(t, t.TempDir(), "c")
			p, d := certPrepare(t, certSettings(t, map[string]string{"cert": cert, "key": key, "ca-file": w.caFile}))
			if p.Method() != "mtls" {
				t.Fatalf("method %q, inferred from --cert/--key, want mtls", p.Method())
			}
			if got := p.(CertificateProvider).Leaf(); !got.Equal(leaf.Cert) {
				t.Fatal("Leaf is not the client certificate")
			}
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				w.wantHandshake(t, d, v, leaf.Cert)
			}
		})
	}

	t.Run("chain with intermediate", func(t *testing.T) {
		inter, leaf, key := w.intermediate(t, testpki.RSA)
		dir := t.TempDir()
		p8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile := testpki.Write(t, dir, "chain.pem", certPEM(leaf, inter))
		keyFile := testpki.Write(t, dir, "key.pem", pemKey(t, "PRIVATE KEY", p8))
		_, d := certPrepare(t, certSettings(t, map[string]string{"cert": certFile, "key": keyFile, "ca-file": w.caFile}))
		if n := len(d.TLS.Certificates[0].Certificate); n != 2 {
			t.Fatalf("%d certificates in the chain, want 2", n)
		}
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			w.wantHandshake(t, d, v, leaf)
		}
	})

	t.Run("encrypted key", func(t *testing.T) {
		leaf := w.clientCA.Client(t, "encrypted", testpki.Options{KeyType: testpki.RSA})
		dir := t.TempDir()
		certFile := testpki.Write(t, dir, "c.pem", leaf.CertPEM)
		keyFile := testpki.Write(t, dir, "k.pem", legacyEncrypted(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(leaf.Key.(*rsa.PrivateKey)), "pw"))
		_, d := certPrepare(t, certSettings(t, map[string]string{"cert": certFile, "key": keyFile, "key-password": "pw", "ca-file": w.caFile}))
		w.wantHandshake(t, d, tls.VersionTLS13, leaf.Cert)
	})

	t.Run("server rejects a certificate of another CA", func(t *testing.T) {
		stranger := testpki.NewCA(t, "stranger").Client(t, "stranger", testpki.Options{})
		cert, key := stranger.Files(t, t.TempDir(), "c")
		_, d := certPrepare(t, certSettings(t, map[string]string{"cert": cert, "key": key, "ca-file": w.caFile}))
		if _, err := w.handshake(t, d, tls.VersionTLS12); err == nil {
			t.Fatal("handshake succeeded with an untrusted client certificate")
		}
	})
}

func TestMTLSTransportPortALPN(t *testing.T) {
	leaf := testpki.NewCA(t, "CA").Client(t, "c", testpki.Options{})
	cert, key := leaf.Files(t, t.TempDir(), "c")
	tests := []struct {
		name      string
		flags     map[string]string
		transport Transport
		port      int
		alpn      []string
		wantErr   []string
	}{
		{name: "host", flags: map[string]string{"endpoint": "a1-ats.iot.us-east-1.amazonaws.com"}, transport: TLS, port: 8883},
		{name: "host:8883", flags: map[string]string{"endpoint": "broker:8883"}, transport: TLS, port: 8883},
		{name: "host:443", flags: map[string]string{"endpoint": "broker:443"}, transport: TLS, port: 8883, alpn: []string{"x-amzn-mqtt-ca"}},
		{name: "--port 443", flags: map[string]string{"endpoint": "broker", "port": "443"}, transport: TLS, port: 8883, alpn: []string{"x-amzn-mqtt-ca"}},
		{name: "--port 8883 wins over :443", flags: map[string]string{"endpoint": "broker:443", "port": "8883"}, transport: TLS, port: 8883},
		{name: "--alpn given on 443", flags: map[string]string{"endpoint": "broker", "port": "443", "alpn": "mqtt"}, transport: TLS, port: 8883, alpn: []string{"mqtt"}},
		{name: "--alpn given on 8883", flags: map[string]string{"endpoint": "broker", "alpn": "x-amzn-mqtt-ca"}, transport: TLS, port: 8883, alpn: []string{"x-amzn-mqtt-ca"}},
		{name: "mqtts://", flags: map[string]string{"endpoint": "mqtts://broker"}, transport: TLS, port: 8883},
		{name: "mqtts://:443", flags: map[string]string{"endpoint": "mqtts://broker:443"}, transport: TLS, port: 8883, alpn: []string{"x-amzn-mqtt-ca"}},
		{name: "tls://", flags: map[string]string{"endpoint": "tls://broker"}, transport: TLS, port: 8883},
		{name: "wss:// (generic broker)", flags: map[string]string{"endpoint": "wss://broker/mqtt"}, transport: WSS, port: 443},
		{name: "wss://:443 has no MQTT ALPN", flags: map[string]string{"endpoint": "wss://broker:443"}, transport: WSS, port: 443},
		{name: "mqtt:// refused", flags: map[string]string{"endpoint": "mqtt://broker"}, wantErr: []string{"mqtt://broker", "needs TLS", "mqtts://"}},
		{name: "ws:// refused", flags: map[string]string{"endpoint": "ws://broker"}, wantErr: []string{"ws://broker", "needs TLS"}},
		{name: "bad endpoint", flags: map[string]string{"endpoint": "gopher://x"}, wantErr: []string{"gopher"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.flags["cert"], tc.flags["key"] = cert, key
			p, err := New(certSettings(t, tc.flags))
			if tc.wantErr != nil {
				certWantUsage(t, err, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := p.Prepare(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d.Transport != tc.transport || d.Port != tc.port {
				t.Fatalf("transport %s port %d, want %s %d", d.Transport, d.Port, tc.transport, tc.port)
			}
			if strings.Join(d.TLS.NextProtos, ",") != strings.Join(tc.alpn, ",") {
				t.Fatalf("ALPN %q, want %q", d.TLS.NextProtos, tc.alpn)
			}
			if d.TLS.MinVersion != tls.VersionTLS12 || len(d.TLS.Certificates) != 1 || d.HasUsername || d.HasPassword {
				t.Fatalf("unexpected dial: %+v", d)
			}
		})
	}

	t.Run("ALPN offered on 443 is negotiated", func(t *testing.T) {
		w := newCertWorld(t)
		leaf := w.clientCA.Client(t, "alpn", testpki.Options{})
		cert, key := leaf.Files(t, t.TempDir(), "c")
		_, d := certPrepare(t, certSettings(t, map[string]string{"cert": cert, "key": key, "ca-file": w.caFile, "port": "443"}))
		if st := w.wantHandshake(t, d, tls.VersionTLS13, leaf.Cert); st.NegotiatedProtocol != "x-amzn-mqtt-ca" {
			t.Fatalf("negotiated ALPN %q", st.NegotiatedProtocol)
		}
	})

	t.Run("username and password for generic brokers", func(t *testing.T) {
		p, err := New(certSettings(t, map[string]string{"cert": cert, "key": key, "auth": "mtls", "username": "u", "password": "p"}))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := p.Prepare(context.Background())
		if !d.HasUsername || d.Username != "u" || !d.HasPassword || string(d.Password) != "p" {
			t.Fatalf("credentials not applied: %+v", d)
		}
	})

	t.Run("Prepare returns a fresh TLS config", func(t *testing.T) {
		p, err := New(certSettings(t, map[string]string{"cert": cert, "key": key}))
		if err != nil {
			t.Fatal(err)
		}
		d1, _ := p.Prepare(context.Background())
		d1.TLS.ServerName = "changed"
		d2, _ := p.Prepare(context.Background())
		if d2.TLS.ServerName != "" {
			t.Fatal("Prepare shares its TLS config between attempts")
		}
	})

	t.Run("missing --key", func(t *testing.T) {
		_, err := New(certSettings(t, map[string]string{"cert": cert, "auth": "mtls"}))
		certWantUsage(t, err, "--cert and --key")
	})
	t.Run("missing CA file", func(t *testing.T) {
		_, err := New(certSettings(t, map[string]string{"cert": cert, "key": key, "ca-file": "/nonexistent/ca.pem"}))
		certWantUsage(t, err, "/nonexistent/ca.pem")
	})
}
