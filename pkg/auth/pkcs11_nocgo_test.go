//go:build !cgo

package auth

import "testing"

func TestPKCS11NeedsCgo(t *testing.T) {
	_, err := New(certSettings(t, map[string]string{"pkcs11-lib": "/usr/lib/softhsm/libsofthsm2.so"}))
	certWantUsage(t, err, "no PKCS#11 support (built without cgo)", "--auth pkcs12/mtls")
}
