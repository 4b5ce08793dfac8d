//go:build unix

package procgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cancelling the context of a shell that started a child kills the child
// too, and the shell's Wait returns without waiting for WaitDelay.
func TestOwnKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	c := exec.CommandContext(ctx, "sh", "-c", `sleep 300 & echo $! > "$1"; wait`, "sh", pidFile)
	OwnContext(c)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		} else if time.Now().After(deadline) {
			t.Fatal("the shell did not start its child")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	_ = c.Wait()
	for deadline := time.Now().Add(20 * time.Second); ; {
		// Gone, or a zombie whose parent (the shell) is gone too.
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the shell's child %d outlived the cancelled shell", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
