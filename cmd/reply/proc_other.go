//go:build !unix

package reply

import "os/exec"

// ownGroup: elsewhere the command's kill kills the command alone.
func ownGroup(*exec.Cmd) {}
