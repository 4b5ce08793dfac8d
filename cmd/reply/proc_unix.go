//go:build unix

package reply

import (
	"os/exec"
	"syscall"
)

// ownGroup runs c in a process group of its own and makes its kill (on
// --timeout or at the shutdown) kill the whole group: a shell's children
// would otherwise live on.
func ownGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
}
