//go:build unix

package reply

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTimeoutKillsTheGroup: --timeout kills the command's children too (a
// shell's), not only the shell.
func TestTimeoutKillsTheGroup(t *testing.T) {
	ep := startBroker(t)
	p := startReply(t, ep, "-t", "grp", "--timeout", "300ms", "--", "sh", "-c", `sleep 60 & echo "child $!" >&2; wait`)
	out, errOut, code := runReq(t, ep, "-t", "grp", "-m", "x", "-o", "json")
	if code != 0 || !strings.Contains(out, `["exit_code","124"]`) {
		t.Fatalf("req: exit %d, %q, %q", code, out, errOut)
	}
	m := regexp.MustCompile(`child (\d+)`).FindStringSubmatch(p.errOut.String())
	if m == nil {
		t.Fatalf("no child pid in %q", p.errOut.String())
	}
	pid, _ := strconv.Atoi(m[1])
	// The killed child is reaped by init (or stays a zombie where init
	// does not reap): wait for it to be gone.
	deadline := time.Now().Add(30 * time.Second)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && !zombie(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the command's child %d outlived --timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombie reports whether pid has exited and waits to be reaped (Linux).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(after, "Z")
}

// TestEndlessOutputIsCut: a command that never stops printing (yes) is
// not buffered without bound: once its output is larger than a payload
// may be, its stdout is closed (it dies of SIGPIPE) and the answer says so.
func TestEndlessOutputIsCut(t *testing.T) {
	ep := startBroker(t)
	startReply(t, ep, "--limits", "aws-iot", "-t", "yes", "--", "yes")
	out, errOut, code := runReq(t, ep, "-t", "yes", "-m", "x", "-o", "json")
	if code != 0 || !strings.Contains(out, `["exit_code","1"]`) || !strings.Contains(out, "too large") {
		t.Fatalf("req: exit %d, %.300q, %q", code, out, errOut)
	}
}
