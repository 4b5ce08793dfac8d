package iot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// TestProvisioningCSRKeyTypes: CreateCertificateFromCsr takes what AWS IoT
// takes, an RSA key of 2048 bits or more or an ECDSA key on P-256, P-384
// or P-521, and rejects other keys with InvalidCsr.
func TestProvisioningCSRKeyTypes(t *testing.T) {
	claim, w := provWorld(t, Config{})
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	gen := func(k crypto.Signer, err error) crypto.Signer {
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		ok   bool
	}{
		{"P-384", gen(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)), true},
		{"RSA 2048", gen(rsa.GenerateKey(rand.Reader, 2048)), true},
		{"P-224", gen(ecdsa.GenerateKey(elliptic.P224(), rand.Reader)), false},
		{"RSA 1024", gen(rsa.GenerateKey(rand.Reader, 1024)), false},
		{"Ed25519", edKey, false},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, tt.key)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := json.Marshal(map[string]string{"certificateSigningRequest": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		got := c.request("$aws/certificates/create-from-csr/json", body)
		want := "/rejected"
		if tt.ok {
			want = "/accepted"
		}
		if len(got) != 1 || !strings.HasSuffix(got[0].Topic, want) || (!tt.ok && !strings.Contains(string(got[0].bytes()), "InvalidCsr")) {
			t.Errorf("%s: got %s, want one reply on %s", tt.name, show(got), want)
		}
	}
}
