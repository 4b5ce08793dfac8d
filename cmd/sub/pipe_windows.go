package sub

import (
	"errors"
	"syscall"
)

// errorNoData is ERROR_NO_DATA, "the pipe is being closed": a write to a
// pipe whose reader is gone.
const errorNoData = syscall.Errno(232)

// isBrokenPipe reports a write to a pipe whose reader is gone.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ERROR_BROKEN_PIPE) || errors.Is(err, errorNoData)
}
