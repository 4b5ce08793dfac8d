//go:build cgo

package whoami

import (
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
)

// softHSMLib finds SoftHSM2's module, or skips (fails under
// IOTCTL_REQUIRE_PEERS=1).
func softHSMLib(t *testing.T) string {
	t.Helper()
	for _, p := range []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
		t.Fatal("libsofthsm2.so not found and IOTCTL_REQUIRE_PEERS=1: install softhsm2")
	}
	t.Skip("libsofthsm2.so not found")
	return ""
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPKCS11 describes a key on a SoftHSM token (PIN by IOTCTL_PKCS11_PIN)
// and connects with it to the emulator over mutual TLS.
func TestPKCS11(t *testing.T) {
	isolate(t)
	util := testpeer.Require(t, "softhsm2-util")
	tool := testpeer.Require(t, "pkcs11-tool")
	lib := softHSMLib(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", testpki.Write(t, dir, "softhsm2.conf", []byte(fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens))))
	pin := "pin-" + marker + "-4"
	out := sh(t, util, "--init-token", "--free", "--label", "whoami-token", "--so-pin", "so-"+marker, "--pin", pin)
	m := regexp.MustCompile(`reassigned to slot (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no slot in: %s", out)
	}
	slot := m[1]

	w := startWorld(t, nil)
	cert, _, keyFile := w.issue(t, certOptions{cn: "hsm-thing"})
	keyDER := mustPKCS8DER(t, keyFile)
	for _, obj := range []struct{ typ, file string }{
		{"privkey", testpki.Write(t, dir, "key.der", keyDER)},
		{"cert", testpki.Write(t, dir, "cert.der", cert.Raw)},
	} {
		args := []string{"--module", lib, "--token-label", "whoami-token", "--login", "--pin", pin, "--write-object", obj.file, "--type", obj.typ, "--id", "c0ffee", "--label", "device-key"}
		if obj.typ == "privkey" {
			args = append(args, "--usage-sign")
		}
		sh(t, tool, args...)
	}
	t.Setenv("IOTCTL_PKCS11_PIN", pin)
	args := []string{"--pkcs11-lib", lib, "--pkcs11-token-label", "whoami-token", "--pkcs11-key-label", "device-key",
		"--endpoint", w.addr(broker.MQTTS), "--ca-file", w.caFile, "--debug", "whoami"}

	r := mustRun(t, args...)
	for _, want := range []string{
		"auth method:              pkcs11 (inferred)",
		"PKCS#11 module:           " + lib,
		"PKCS#11 slot:             " + slot,
		"token label:              whoami-token",
		"key label:                device-key",
		"key ID:                   c0ffee",
		"subject:                  CN=hsm-thing,O=iotctl test",
		"certificate ID:           " + CertificateID(cert),
		"CONNACK:                  success (0x00)",
		"pkcs11-pin:               **** (env)",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("no %q in\n%s", want, r.out)
		}
	}
	r = mustRun(t, append(args, "-o", "json")...)
	mm := decode(t, r.out)
	if field(mm, "identity", "pkcs11_token_label") != "whoami-token" || field(mm, "identity", "pkcs11_key_id") != "c0ffee" || field(mm, "connack") == nil {
		t.Errorf("json: %s", r.out)
	}
	for _, format := range []string{"text", "json"} {
		r := mustRun(t, append(args, "-o", format, "--pkcs11-pin", pin)...)
		if strings.Contains(r.out+r.errOut, marker) {
			t.Errorf("%s: the PIN is shown:\n%s%s", format, r.out, r.errOut)
		}
	}
}

func mustPKCS8DER(t *testing.T, keyFile string) []byte {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", keyFile)
	}
	return block.Bytes
}
