// Package procgroup runs a child command in a process group of its own,
// so that killing it kills what it started too (a shell's children would
// otherwise live on, holding its pipes), and so that a Ctrl-C or SIGTERM
// sent to iotctl's group reaches iotctl alone, which decides when the
// child ends.
package procgroup

import "os/exec"

// Own puts c in a process group of its own (Unix; on Windows a new
// process group, which keeps console Ctrl-C from it). Call before c.Start.
func Own(c *exec.Cmd) { own(c) }

// OwnContext is Own for a command made by exec.CommandContext: the
// context's end kills the whole group, not the command alone.
func OwnContext(c *exec.Cmd) {
	own(c)
	c.Cancel = func() error {
		Kill(c)
		return nil
	}
}

// Kill kills c's process group (on Windows, c alone).
func Kill(c *exec.Cmd) {
	if c.Process != nil {
		kill(c)
	}
}
