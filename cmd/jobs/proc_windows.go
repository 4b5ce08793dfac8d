package jobs

import (
	"os/exec"
	"syscall"
)

// isolate starts COMMAND in a new process group, so a Ctrl-C at the
// console reaches iotctl alone.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// kill ends COMMAND.
func kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
