package procgroup

import (
	"os/exec"
	"syscall"
)

func own(c *exec.Cmd) {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.CreationFlags |= syscall.CREATE_NEW_PROCESS_GROUP
}

func kill(c *exec.Cmd) { _ = c.Process.Kill() }
