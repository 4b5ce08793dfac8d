// Package errs gives every iotctl error a kind; cmd/cmdutil maps kinds to
// exit codes in one table, so library packages never pick exit codes.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies a failure by what the user should do about it.
type Kind int

const (
	Unexpected  Kind = iota // a bug or an unclassified failure
	Usage                   // bad flag, value, topic, profile or file
	Connect                 // could not reach or handshake with the broker
	Refused                 // the broker said no (reason code >= 0x80, 401/403)
	Timeout                 // waited for messages that did not come
	Incomplete              // QoS >= 1 messages left unacknowledged
	Interrupted             // SIGINT/SIGTERM after a clean shutdown
	Output                  // the output could not be written (disk full, I/O error)
	BrokenPipe              // the output's reader went away: exit quietly, as after SIGPIPE
)

func (k Kind) String() string {
	switch k {
	case Usage:
		return "usage"
	case Connect:
		return "connect"
	case Refused:
		return "refused"
	case Timeout:
		return "timeout"
	case Incomplete:
		return "incomplete"
	case Interrupted:
		return "interrupted"
	case Output:
		return "output"
	case BrokenPipe:
		return "broken pipe"
	}
	return "unexpected"
}

// Error is an error of a known kind.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New wraps err with a kind; a nil err stays nil.
func New(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

func Usagef(format string, a ...any) error   { return New(Usage, fmt.Errorf(format, a...)) }
func Connectf(format string, a ...any) error { return New(Connect, fmt.Errorf(format, a...)) }
func Refusedf(format string, a ...any) error { return New(Refused, fmt.Errorf(format, a...)) }
func Timeoutf(format string, a ...any) error { return New(Timeout, fmt.Errorf(format, a...)) }
func Incompletef(format string, a ...any) error {
	return New(Incomplete, fmt.Errorf(format, a...))
}

// KindOf returns the kind of the outermost classified error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unexpected
}
