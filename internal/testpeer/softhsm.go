package testpeer

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// SoftHSM is a SoftHSM2 installation private to one test: its own
// configuration file and token folder. Child processes get it through
// Env(); in-process PKCS#11 needs t.Setenv("SOFTHSM2_CONF", h.Conf).
type SoftHSM struct {
	Lib  string // the PKCS#11 module, libsofthsm2.so
	Conf string // the SOFTHSM2_CONF file
	tool string // pkcs11-tool (opensc)
}

// StartSoftHSM finds softhsm2-util, pkcs11-tool and the module (skipping, or
// failing under IOTCTL_REQUIRE_PEERS=1, when one is missing) and makes an
// empty token folder.
func StartSoftHSM(t testing.TB) *SoftHSM {
	t.Helper()
	Require(t, "softhsm2-util")
	h := &SoftHSM{tool: Require(t, "pkcs11-tool")}
	for _, p := range []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
	} {
		if _, err := os.Stat(p); err == nil {
			h.Lib = p
			break
		}
	}
	if h.Lib == "" {
		if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
			t.Fatal("libsofthsm2.so not found and IOTCTL_REQUIRE_PEERS=1: .ci/run must install softhsm2")
		}
		t.Skip("libsofthsm2.so not found (set IOTCTL_REQUIRE_PEERS=1 to make this a failure)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	h.Conf = filepath.Join(dir, "softhsm2.conf")
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	if err := os.WriteFile(h.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// Env is the environment entry that points SoftHSM2 at this installation.
func (h *SoftHSM) Env() string { return "SOFTHSM2_CONF=" + h.Conf }

// Run runs a program with this installation's environment.
func (h *SoftHSM) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), h.Env())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

var reassigned = regexp.MustCompile(`reassigned to slot (\d+)`)

// InitToken makes a token and returns its slot ID.
func (h *SoftHSM) InitToken(t testing.TB, label, soPIN, pin string) string {
	t.Helper()
	out := h.Run(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", pin)
	m := reassigned.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no slot in softhsm2-util output: %s", out)
	}
	return m[1]
}

// Tool runs pkcs11-tool logged in to a token.
func (h *SoftHSM) Tool(t testing.TB, token, pin string, args ...string) string {
	t.Helper()
	return h.Run(t, h.tool, append([]string{"--module", h.Lib, "--token-label", token, "--login", "--pin", pin}, args...)...)
}

// ImportKey writes a Go private key (PKCS#8 DER) to the token.
func (h *SoftHSM) ImportKey(t testing.TB, token, pin string, key crypto.Signer, id, label string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "key.der")
	if err := os.WriteFile(f, der, 0o600); err != nil {
		t.Fatal(err)
	}
	h.Tool(t, token, pin, "--write-object", f, "--type", "privkey", "--id", id, "--label", label, "--usage-sign")
}

// ImportCert writes a DER certificate to the token.
func (h *SoftHSM) ImportCert(t testing.TB, token, pin string, der []byte, id, label string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cert.der")
	if err := os.WriteFile(f, der, 0o600); err != nil {
		t.Fatal(err)
	}
	h.Tool(t, token, pin, "--write-object", f, "--type", "cert", "--id", id, "--label", label)
}
