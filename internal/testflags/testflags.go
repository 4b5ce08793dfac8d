// Package testflags is the small flag set the resolution tests of
// pkg/profile and pkg/profilestore parse their arguments with.
package testflags

import (
	"testing"

	"github.com/spf13/pflag"
)

// FlagSet mimics the root's settings flags for the settings the tests
// use (profile, endpoint, alpn, port, cert) and parses args with it.
func FlagSet(t testing.TB, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("profile", "", "")
	fs.String("endpoint", "localhost", "")
	fs.StringArray("alpn", nil, "")
	fs.Int("port", 0, "")
	fs.String("cert", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}
