//go:build cgo

package auth

import (
	"context"
	"strconv"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
)

func TestDescribePKCS11(t *testing.T) {
	h := newSoftHSM(t)
	w := newCertWorld(t)
	h.initToken(t, "other")
	slot := h.initToken(t, "whoami")
	leaf := w.clientCA.Client(t, "hsm-thing", testpki.Options{})
	h.importKey(t, "whoami", leaf.Key, "a1b2", "device-key")
	h.importCert(t, "whoami", leaf.Cert, "a1b2", "device-key")

	p, err := New(certSettings(t, h.flags("whoami", "pkcs11-key-label", "device-key")))
	if err != nil {
		t.Fatal(err)
	}
	defer p.(interface{ Close() error }).Close()
	id, err := Describe(context.Background(), p, DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := id.PKCS11
	if id.Method != "pkcs11" || !id.Certificate.Equal(leaf.Cert) || got == nil {
		t.Fatalf("identity %+v", id)
	}
	if got.Module != h.lib || !got.HasSlot || strconv.FormatUint(uint64(got.Slot), 10) != slot || got.TokenLabel != "whoami" ||
		got.KeyLabel != "device-key" || got.KeyID != "a1b2" || got.Manufacturer == "" || got.TokenSerial == "" {
		t.Errorf("pkcs11 %+v (slot %s, lib %s)", got, slot, h.lib)
	}
}
