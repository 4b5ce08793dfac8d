package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// certSettings resolves Settings from flags as the root command would, so
// that IsSet and the defaults behave as in the binary.
func certSettings(t *testing.T, flags map[string]string) *profile.Settings {
	t.Helper()
	s, err := profile.Resolve(settingsFlags(t, oneEach(flags)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// certWantUsage fails unless err is an errs.Usage error containing every
// one of parts.
func certWantUsage(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a usage error containing %q", parts)
	}
	if k := errs.KindOf(err); k != errs.Usage {
		t.Fatalf("error kind %v, want usage: %v", k, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// certWorld is a broker's PKI: a server CA whose PEM is caFile (what
// --ca-file gets) and a client CA the server trusts for client certificates.
type certWorld struct {
	dir      string
	serverCA *testpki.CA
	server   *testpki.Leaf
	clientCA *testpki.CA
	caFile   string
}

func newCertWorld(t *testing.T) *certWorld {
	t.Helper()
	w := &certWorld{dir: t.TempDir(), serverCA: testpki.NewCA(t, "server CA"), clientCA: testpki.NewCA(t, "client CA")}
	w.server = w.serverCA.Server(t, "localhost", "127.0.0.1")
	w.caFile = testpki.Write(t, w.dir, "server-ca.pem", w.serverCA.PEM)
	return w
}

// intermediate makes a CA signed by the client CA and a client leaf signed
// by it; the server trusts only the root, so the chain must be sent.
func (w *certWorld) intermediate(t *testing.T, kt testpki.KeyType) (inter, leaf *x509.Certificate, key crypto.Signer) {
	t.Helper()
	ikey := testpki.NewKey(t, testpki.EC)
	itmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "intermediate CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	ider, err := x509.CreateCertificate(rand.Reader, itmpl, w.clientCA.Cert, ikey.Public(), w.clientCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	inter, _ = x509.ParseCertificate(ider)
	key = testpki.NewKey(t, kt)
	leaf = w.sign(t, inter, ikey, key.Public(), "chained-client")
	return inter, leaf, key
}

// sign issues a client certificate for pub.
func (w *certWorld) sign(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, pub crypto.PublicKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func certPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// handshake runs one TLS handshake of version between the Dial's config and
// an in-process server that requires and verifies a client certificate of
// the client CA. It returns the server's view of the connection.
func (w *certWorld) handshake(t *testing.T, d *Dial, version uint16) (tls.ConnectionState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pool := x509.NewCertPool()
	pool.AddCert(w.clientCA.Cert)
	srv := &tls.Config{
		Certificates: []tls.Certificate{w.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   version,
		MaxVersion:   version,
		NextProtos:   []string{alpnMutualTLS, "mqtt"},
	}
	type result struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		err = tc.HandshakeContext(ctx)
		done <- result{tc.ConnectionState(), err}
	}()

	cfg := d.TLS.Clone()
	cfg.ServerName = "localhost"
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cerr := tls.Client(conn, cfg).HandshakeContext(ctx)
	if cerr != nil {
		conn.Close() // unblock the server
	}
	r := <-done
	if cerr != nil {
		return r.state, cerr
	}
	return r.state, r.err
}

// wantHandshake checks that the server accepted leaf over TLS version.
func (w *certWorld) wantHandshake(t *testing.T, d *Dial, version uint16, leaf *x509.Certificate) tls.ConnectionState {
	t.Helper()
	st, err := w.handshake(t, d, version)
	if err != nil {
		t.Fatalf("TLS %x handshake: %v", version, err)
	}
	if st.Version != version {
		t.Fatalf("negotiated TLS %x, want %x", st.Version, version)
	}
	if len(st.PeerCertificates) == 0 || !st.PeerCertificates[0].Equal(leaf) {
		t.Fatalf("server did not see the client certificate %q", leaf.Subject.CommonName)
	}
	return st
}

// prepare builds the provider for s and returns its Dial.
func certPrepare(t *testing.T, s *profile.Settings) (Provider, *Dial) {
	t.Helper()
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.(interface{ Close() error }); ok {
		t.Cleanup(func() { c.Close() })
	}
	d, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}
