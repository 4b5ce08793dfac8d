// Package testpeer finds the real programs tests talk to (mosquitto,
// tinyproxy, softhsm2-util, …) and free loopback ports. With
// IOTCTL_REQUIRE_PEERS=1 (CI) a missing program fails the test instead of
// skipping it.
package testpeer

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the path of program, or skips (fails under
// IOTCTL_REQUIRE_PEERS=1) when it is not installed. It also looks in the
// sbin folders, where Debian puts mosquitto and tinyproxy.
func Require(t testing.TB, program string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, program)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s is not installed and IOTCTL_REQUIRE_PEERS=1: .ci/run must install it", program)
	}
	t.Skipf("%s is not installed (set IOTCTL_REQUIRE_PEERS=1 to make this a failure)", program)
	return ""
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
