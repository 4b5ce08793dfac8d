//go:build !windows

package auth

import "testing"

func TestWinstoreOnlyOnWindows(t *testing.T) {
	s := certSettings(t, map[string]string{"cert-store": `CurrentUser\MY\A11F8A9B5DF5B98BA3508FBCA575D09570E0D2C6`})
	if m, err := Infer(s); err != nil || m != "winstore" {
		t.Fatalf("inferred %q, %v", m, err)
	}
	_, err := New(s)
	certWantUsage(t, err, "only available on Windows")
}
