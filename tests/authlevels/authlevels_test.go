// Package authlevels runs the binary to check that flag > env > profile
// holds for the auth method: settings that imply a method win over an
// auth from a lower level.
package authlevels

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

// certSeen records the client certificate's common name of every CONNECT.
type certSeen struct {
	broker.HookBase
	mu  sync.Mutex
	cns []string
}

func (h *certSeen) ID() string           { return "authlevels-certs" }
func (h *certSeen) Provides(b byte) bool { return b == broker.OnConnectAuthenticate }
func (h *certSeen) OnConnectAuthenticate(cl *broker.Client, _ packets.Packet) bool {
	cn := "(none)"
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			cn = pc[0].Subject.CommonName
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cns = append(h.cns, cn)
	return true
}

func (h *certSeen) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cns...)
}

// TestFlagsBeatProfileAuth: with a current profile saying auth: none,
// --cert/--key on the command line connect with mutual TLS (they were
// ignored, and the broker refused the handshake with "bad certificate").
func TestFlagsBeatProfileAuth(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "authlevels CA")
	caFile := testpki.Write(t, dir, "ca.pem", ca.PEM)
	sc, sk := ca.Server(t, "127.0.0.1", "localhost").Files(t, dir, "server")
	cert, key := ca.Client(t, "flag-device", testpki.Options{}).Files(t, dir, "client")
	hook := &certSeen{}
	b := testenv.StartBroker(t, broker.Options{
		TLSListen: "127.0.0.1:0", TLSCert: sc, TLSKey: sk, ClientCA: caFile,
		Home: t.TempDir(), Hooks: []broker.Hook{hook},
	})

	home := t.TempDir()
	profiles := filepath.Join(home, ".iotctl", "profiles")
	if err := os.MkdirAll(profiles, 0o700); err != nil {
		t.Fatal(err)
	}
	prof := "endpoint: " + b.URL(broker.MQTTS) + "\nauth: none\nca-file: " + caFile + "\n"
	if err := os.WriteFile(filepath.Join(profiles, "dev.yaml"), []byte(prof), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".iotctl", "current"), []byte("dev\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := clitest.Env(home)

	r := clitest.Run(t, clitest.Opts{Env: env, Args: []string{"pub", "-t", "a/b", "-m", "x", "-q", "1", "--cert", cert, "--key", key}})
	if r.Code != 0 {
		t.Fatalf("pub with --cert/--key over a profile with auth none: exit %d\nstderr: %s", r.Code, r.Stderr)
	}
	if got := hook.seen(); len(got) != 1 || got[0] != "flag-device" {
		t.Errorf("broker saw client certificates %q, want [flag-device]", got)
	}

	// An --auth flag still wins over the implication of a lower level,
	// and the profile's own auth over its own level's: no certificate.
	r = clitest.Run(t, clitest.Opts{Env: append(env, "IOTCTL_CERT="+cert, "IOTCTL_KEY="+key), Args: []string{"pub", "-t", "a/b", "-m", "x", "--auth", "none"}})
	if r.Code != 3 || !strings.Contains(r.Stderr, "certificate") {
		t.Errorf("pub --auth none with IOTCTL_CERT/KEY: exit %d, want 3 (no certificate sent)\nstderr: %s", r.Code, r.Stderr)
	}

	// The env level beats the profile too.
	r = clitest.Run(t, clitest.Opts{Env: append(env, "IOTCTL_CERT="+cert, "IOTCTL_KEY="+key), Args: []string{"pub", "-t", "a/b", "-m", "x"}})
	if r.Code != 0 {
		t.Fatalf("pub with IOTCTL_CERT/KEY over a profile with auth none: exit %d\nstderr: %s", r.Code, r.Stderr)
	}
	if got := hook.seen(); len(got) != 2 || got[1] != "flag-device" {
		t.Errorf("broker saw client certificates %q, want [flag-device flag-device]", got)
	}

	// whoami names the method it will use, inferred from the flags.
	r = clitest.Run(t, clitest.Opts{Env: env, Args: []string{"whoami", "--offline", "--cert", cert, "--key", key}})
	if r.Code != 0 || !strings.Contains(r.Stdout, "mtls (inferred)") {
		t.Errorf("whoami --offline --cert --key: exit %d, want auth method mtls (inferred)\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
}
