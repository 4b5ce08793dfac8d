package testpeer

import (
	"os/exec"
	"syscall"
)

// dieWithParent kills the child when the test binary dies (timeout, panic),
// when t.Cleanup never runs.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
