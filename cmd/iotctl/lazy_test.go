package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
)

// TestLazyStartUp: --help, completion and a plain pub must not load AWS
// configuration. The AWS config and credentials files are unparsable, so any
// command that loads them fails; a sigv4 command proves the trap works.
func TestLazyStartUp(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	dir := t.TempDir()
	bad := filepath.Join(dir, "aws-config")
	if err := os.WriteFile(bad, []byte("[profile broken\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"AWS_CONFIG_FILE=" + bad, "AWS_SHARED_CREDENTIALS_FILE=" + bad, "AWS_PROFILE=broken",
		"AWS_EC2_METADATA_DISABLED=true"}
	home := t.TempDir()

	for _, args := range [][]string{
		{"--help"},
		{"pub", "--help"},
		{"completion", "bash"},
		{"pub", "--endpoint", b.URL("mqtt"), "-t", "lazy/test", "-m", "hello", "-q", "1"},
	} {
		r := iotctl(t, home, env, args...)
		if r.code != 0 {
			t.Errorf("iotctl %s: exit %d, want 0 (AWS configuration loaded?)\nstderr: %s", strings.Join(args, " "), r.code, r.errOut)
		}
	}

	// The control: a command that does need AWS configuration trips over it.
	r := iotctl(t, home, env, "pub", "--auth", "sigv4", "--endpoint", "a1-ats.iot.us-east-1.amazonaws.com", "-t", "x", "-m", "y")
	if r.code != 2 || !strings.Contains(r.errOut, "AWS_CONFIG_FILE") {
		t.Fatalf("sigv4 pub with an unparsable AWS config: exit %d, stderr %q; want exit 2 naming AWS_CONFIG_FILE (the trap does not work)", r.code, r.errOut)
	}
}
