//go:build unix

package iot

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A custom authorizer or provisioning hook that times out is killed with
// what it started: a shell's background child does not live on.
func TestCommandTimeoutKillsItsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	line := `sleep 300 & echo $! > '` + pidFile + `'; wait`
	var b []byte
	// A loaded machine may not start the shell's child within a short
	// timeout: try longer ones until it did.
	for _, timeout := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Second} {
		_, err := runCommand(context.Background(), line, nil, timeout)
		if err == nil || !strings.Contains(err.Error(), "no answer within") {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if b, err = os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			break
		}
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(20 * time.Second); ; {
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if syscall.Kill(pid, 0) != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the command's child %d outlived its timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
