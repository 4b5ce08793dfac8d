//go:build !windows

package sub

import (
	"errors"
	"syscall"
)

// isBrokenPipe reports a write to a pipe or socket whose reader is gone.
func isBrokenPipe(err error) bool { return errors.Is(err, syscall.EPIPE) }
