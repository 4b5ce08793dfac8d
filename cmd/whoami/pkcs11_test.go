//go:build cgo

package whoami

import (
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
)

// TestPKCS11 describes a key on a SoftHSM token (PIN by IOTCTL_PKCS11_PIN)
// and connects with it to the emulator over mutual TLS.
func TestPKCS11(t *testing.T) {
	isolate(t)
	h := testpeer.StartSoftHSM(t)
	t.Setenv("SOFTHSM2_CONF", h.Conf) // whoami runs in this process
	lib := h.Lib
	pin := "pin-" + marker + "-4"
	slot := h.InitToken(t, "whoami-token", "so-"+marker, pin)

	w := startWorld(t, nil)
	cert, _, keyFile := w.issue(t, certOptions{cn: "hsm-thing"})
	h.Tool(t, "whoami-token", pin, "--write-object", testpki.Write(t, t.TempDir(), "key.der", mustPKCS8DER(t, keyFile)), "--type", "privkey", "--id", "c0ffee", "--label", "device-key", "--usage-sign")
	h.ImportCert(t, "whoami-token", pin, cert.Raw, "c0ffee", "device-key")
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
