//go:build cgo

package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
)

const (
	hsmPIN   = "4321-user"
	hsmSOPIN = "8765-so"
)

// softHSM binds the shared SoftHSM2 harness to this file's PINs.
type softHSM struct {
	*testpeer.SoftHSM
	lib string
}

func newSoftHSM(t *testing.T) *softHSM {
	t.Helper()
	h := testpeer.StartSoftHSM(t)
	t.Setenv("SOFTHSM2_CONF", h.Conf) // the module is loaded in this process
	return &softHSM{SoftHSM: h, lib: h.Lib}
}

// initToken makes a token and returns its slot ID.
func (h *softHSM) initToken(t *testing.T, label string) string {
	return h.InitToken(t, label, hsmSOPIN, hsmPIN)
}

func (h *softHSM) tool11(t *testing.T, token string, args ...string) string {
	return h.Tool(t, token, hsmPIN, args...)
}

func (h *softHSM) importKey(t *testing.T, token string, key crypto.Signer, id, label string) {
	h.ImportKey(t, token, hsmPIN, key, id, label)
}

func (h *softHSM) importCert(t *testing.T, token string, c *x509.Certificate, id, label string) {
	h.ImportCert(t, token, hsmPIN, c.Raw, id, label)
}

// token makes a token holding one key of kt with its certificate (id 01).
func (h *softHSM) token(t *testing.T, w *certWorld, label string, kt testpki.KeyType) *testpki.Leaf {
	t.Helper()
	h.initToken(t, label)
	leaf := w.clientCA.Client(t, label+"-client", testpki.Options{KeyType: kt})
	h.importKey(t, label, leaf.Key, "01", "k1")
	h.importCert(t, label, leaf.Cert, "01", "k1")
	return leaf
}

func (h *softHSM) flags(token string, more ...string) map[string]string {
	f := map[string]string{"pkcs11-lib": h.lib, "pkcs11-pin": hsmPIN, "pkcs11-token-label": token}
	for i := 0; i+1 < len(more); i += 2 {
		f[more[i]] = more[i+1]
	}
	return f
}

func TestPKCS11Handshake(t *testing.T) {
	for _, kt := range []struct {
		name string
		kt   testpki.KeyType
	}{{"RSA", testpki.RSA}, {"EC", testpki.EC}} {
		t.Run(kt.name+" key and certificate on the token", func(t *testing.T) {
			h := newSoftHSM(t)
			w := newCertWorld(t)
			leaf := h.token(t, w, "iotctl-"+kt.name, kt.kt)
			flags := h.flags("iotctl-"+kt.name, "ca-file", w.caFile)
			delete(flags, "pkcs11-token-label") // the only token is used
			p, d := certPrepare(t, certSettings(t, flags))
			if p.Method() != "pkcs11" || !p.(CertificateProvider).Leaf().Equal(leaf.Cert) {
				t.Fatalf("method %q or certificate wrong", p.Method())
			}
			if d.Transport != TLS || d.Port != 8883 || d.TLS.MaxVersion != 0 {
				t.Fatalf("dial %s %d max %x", d.Transport, d.Port, d.TLS.MaxVersion)
			}
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				w.wantHandshake(t, d, v, leaf.Cert)
			}
			if kt.kt == testpki.RSA {
				// PKCS#1 v1.5, which TLS 1.2 peers may insist on.
				d.TLS.Certificates[0].SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.PKCS1WithSHA256}
				w.wantHandshake(t, d, tls.VersionTLS12, leaf.Cert)
			}
		})
	}

	t.Run("key generated in the token, certificate from --cert, port 443", func(t *testing.T) {
		h := newSoftHSM(t)
		w := newCertWorld(t)
		slot := h.initToken(t, "gen")
		h.tool11(t, "gen", "--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "device")
		pubFile := filepath.Join(t.TempDir(), "pub.der")
		h.tool11(t, "gen", "--read-object", "--type", "pubkey", "--id", "02", "--output-file", pubFile)
		pubDER, err := os.ReadFile(pubFile)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(pubDER)
		if err != nil {
			t.Fatal(err)
		}
		leaf := w.sign(t, w.clientCA.Cert, w.clientCA.Key, pub, "in-token")
		certFile := testpki.Write(t, t.TempDir(), "device.pem", certPEM(leaf))
		// A second key: the label must choose.
		other := testpki.NewKey(t, testpki.RSA)
		h.importKey(t, "gen", other, "03", "other")

		s := certSettings(t, map[string]string{"pkcs11-lib": h.lib, "pkcs11-pin": hsmPIN, "pkcs11-slot": slot,
			"pkcs11-key-label": "device", "cert": certFile, "ca-file": w.caFile, "port": "443"})
		if m, err := Infer(s); err != nil || m != "pkcs11" {
			t.Fatalf("--cert with PKCS#11 settings inferred %q, %v", m, err)
		}
		_, d := certPrepare(t, s)
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			if st := w.wantHandshake(t, d, v, leaf); st.NegotiatedProtocol != alpnMutualTLS {
				t.Fatalf("ALPN %q on 443", st.NegotiatedProtocol)
			}
		}
	})
}

func TestPKCS11Signer(t *testing.T) {
	h := newSoftHSM(t)
	w := newCertWorld(t)
	rsaLeaf := h.token(t, w, "rsa", testpki.RSA)
	ecLeaf := h.token(t, w, "ec", testpki.EC)
	msg := []byte("message")
	d256, d384 := sha256.Sum256(msg), sha512.Sum384(msg)

	rp, _ := certPrepare(t, certSettings(t, h.flags("rsa")))
	rk := rp.(*pkcs11Provider).key
	pub := rsaLeaf.Cert.PublicKey.(*rsa.PublicKey)
	for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, 20} {
		sig, err := rk.Sign(rand.Reader, d256[:], &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: salt})
		if err != nil {
			t.Fatalf("PSS salt %d: %v", salt, err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, d256[:], sig, &rsa.PSSOptions{SaltLength: salt}); err != nil {
			t.Fatalf("PSS salt %d: %v", salt, err)
		}
	}
	sig, err := rk.Sign(rand.Reader, d384[:], crypto.SHA384)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA384, d384[:], sig); err != nil {
		t.Fatal(err)
	}
	if _, err := rk.Sign(rand.Reader, d384[:], crypto.SHA256); err == nil {
		t.Fatal("a digest of the wrong length was signed")
	}

	ep, _ := certPrepare(t, certSettings(t, h.flags("ec")))
	ek := ep.(*pkcs11Provider).key
	for _, d := range [][]byte{d256[:], d384[:]} {
		sig, err := ek.Sign(rand.Reader, d, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(ecLeaf.Cert.PublicKey.(*ecdsa.PublicKey), d, sig) {
			t.Fatalf("ECDSA signature of a %d-byte digest does not verify", len(d))
		}
	}

	// Both providers share the module; closing one leaves the other working.
	if err := rp.(*pkcs11Provider).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rk.Sign(rand.Reader, d256[:], crypto.SHA256); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("signing after Close: %v", err)
	}
	if _, err := ek.Sign(rand.Reader, d256[:], crypto.SHA256); err != nil {
		t.Fatalf("the other provider stopped working: %v", err)
	}
}

func TestPKCS11PIN(t *testing.T) {
	h := newSoftHSM(t)
	w := newCertWorld(t)
	leaf := h.token(t, w, "pin-token", testpki.EC)

	t.Run("wrong PIN", func(t *testing.T) {
		_, err := New(certSettings(t, h.flags("pin-token", "pkcs11-pin", "9999-wrong")))
		certWantUsage(t, err, "wrong PIN for PKCS#11 token 'pin-token'", "--pkcs11-pin", "IOTCTL_PKCS11_PIN")
		if strings.Contains(err.Error(), "9999-wrong") {
			t.Fatalf("error shows the PIN: %v", err)
		}
	})

	t.Run("no PIN and no terminal", func(t *testing.T) {
		defer func(f func(string) (string, bool, error)) { readPIN = f }(readPIN)
		readPIN = func(string) (string, bool, error) { return "", false, nil }
		flags := h.flags("pin-token")
		delete(flags, "pkcs11-pin")
		_, err := New(certSettings(t, flags))
		certWantUsage(t, err, "PKCS#11 token 'pin-token'", "no terminal", "--pkcs11-pin", "IOTCTL_PKCS11_PIN")
	})

	t.Run("PIN from the terminal", func(t *testing.T) {
		defer func(f func(string) (string, bool, error)) { readPIN = f }(readPIN)
		var prompt string
		readPIN = func(p string) (string, bool, error) { prompt = p; return hsmPIN, true, nil }
		flags := h.flags("pin-token", "ca-file", w.caFile)
		delete(flags, "pkcs11-pin")
		_, d := certPrepare(t, certSettings(t, flags))
		if !strings.Contains(prompt, "'pin-token'") {
			t.Fatalf("prompt %q does not name the token", prompt)
		}
		w.wantHandshake(t, d, tls.VersionTLS13, leaf.Cert)
	})

	t.Run("PIN from IOTCTL_PKCS11_PIN", func(t *testing.T) {
		t.Setenv("IOTCTL_PKCS11_PIN", hsmPIN)
		flags := h.flags("pin-token")
		delete(flags, "pkcs11-pin")
		certPrepare(t, certSettings(t, flags))
	})
}

func TestPKCS11Errors(t *testing.T) {
	h := newSoftHSM(t)
	w := newCertWorld(t)
	leaf := h.token(t, w, "main", testpki.RSA)
	h.token(t, w, "second", testpki.EC)
	stranger := w.clientCA.Client(t, "stranger", testpki.Options{KeyType: testpki.RSA})
	strangerFile := testpki.Write(t, t.TempDir(), "stranger.pem", stranger.CertPEM)
	notALib := testpki.Write(t, t.TempDir(), "notalib.so", []byte("not a shared library"))
	missing := filepath.Join(t.TempDir(), "libmissing.so")
	// A token with a key but no certificate.
	h.initToken(t, "bare")
	h.importKey(t, "bare", testpki.NewKey(t, testpki.EC), "05", "lonely")
	// Two keys, no labels chosen.
	h.initToken(t, "two")
	h.importKey(t, "two", testpki.NewKey(t, testpki.EC), "06", "a")
	h.importKey(t, "two", testpki.NewKey(t, testpki.EC), "07", "b")

	tests := []struct {
		name  string
		flags map[string]string
		want  []string
	}{
		{"missing library", map[string]string{"pkcs11-lib": missing, "pkcs11-pin": hsmPIN}, []string{"PKCS#11 library " + missing, "no such file", "--pkcs11-lib"}},
		{"not a library", map[string]string{"pkcs11-lib": notALib, "pkcs11-pin": hsmPIN}, []string{"PKCS#11 library " + notALib, "could not be loaded"}},
		{"no library", map[string]string{"auth": "pkcs11", "pkcs11-token-label": "main"}, []string{"--pkcs11-lib"}},
		{"several tokens", h.flags(""), []string{"several tokens", "'main'", "'second'", "--pkcs11-token-label"}},
		{"unknown token", h.flags("nope"), []string{"no PKCS#11 token labelled 'nope'", "'main' (slot"}},
		{"bad slot", h.flags("", "pkcs11-slot", "x1"), []string{`invalid --pkcs11-slot "x1"`}},
		{"unknown slot", h.flags("", "pkcs11-slot", "4242"), []string{"no token in PKCS#11 slot 4242"}},
		{"unknown key label", h.flags("main", "pkcs11-key-label", "nokey"), []string{"PKCS#11 token 'main' has no private key labelled 'nokey'", "'k1' (id 01)"}},
		{"several keys", h.flags("two"), []string{"PKCS#11 token 'two' has several private keys", "--pkcs11-key-label", "'a' (id 06)", "'b' (id 07)"}},
		{"no certificate", h.flags("bare"), []string{"PKCS#11 token 'bare' has no certificate for key 'lonely'", "--cert"}},
		{"--cert of another key", h.flags("main", "cert", strangerFile), []string{"key 'k1' on PKCS#11 token 'main' does not match the certificate in " + strangerFile, "stranger"}},
		{"--cert missing", h.flags("main", "cert", "/nonexistent/c.pem"), []string{"certificate file /nonexistent/c.pem", "--cert"}},
		{"mqtt:// endpoint", h.flags("main", "endpoint", "mqtt://broker"), []string{"needs TLS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.flags["pkcs11-token-label"] == "" {
				delete(tc.flags, "pkcs11-token-label")
			}
			_, err := New(certSettings(t, tc.flags))
			certWantUsage(t, err, tc.want...)
			if strings.Contains(err.Error(), hsmPIN) {
				t.Fatalf("error shows the PIN: %v", err)
			}
		})
	}

	t.Run("slot and label agree", func(t *testing.T) {
		slot := h.initToken(t, "third")
		h.importKey(t, "third", stranger.Key, "01", "k")
		h.importCert(t, "third", stranger.Cert, "01", "k")
		certPrepare(t, certSettings(t, h.flags("third", "pkcs11-slot", slot, "ca-file", w.caFile)))
		_, err := New(certSettings(t, h.flags("main", "pkcs11-slot", slot)))
		certWantUsage(t, err, "holds token 'third', not 'main'")
	})

	t.Run("the module is loaded only by the pkcs11 method", func(t *testing.T) {
		cert, key := leaf.Files(t, t.TempDir(), "c")
		if _, err := New(certSettings(t, map[string]string{"cert": cert, "key": key})); err != nil {
			t.Fatal(err)
		}
		p11Modules.Lock()
		n := len(p11Modules.m)
		p11Modules.Unlock()
		if n != 0 {
			t.Fatalf("%d PKCS#11 modules loaded after the other tests closed theirs and mtls ran", n)
		}
	})
}
