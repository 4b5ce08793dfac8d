//go:build !windows

package jobs

import (
	"os/exec"
	"syscall"
)

// isolate puts COMMAND in its own process group: a Ctrl-C or a SIGTERM
// sent to iotctl's group reaches iotctl alone, which lets COMMAND finish
// (or kills it after --grace).
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// kill kills COMMAND's process group: the command and what it started.
func kill(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		_ = cmd.Process.Kill()
	}
}
