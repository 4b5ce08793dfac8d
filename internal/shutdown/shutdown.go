// Package shutdown holds the deadlines of the steps that run after
// SIGINT/SIGTERM. The contract (CLI.md): every command exits within 3 s of
// the signal whatever its peer does. The root command cancels the run's
// context with a *Signal cause; cleanup steps (waiting for acknowledgements,
// DISCONNECT, closing an in-process broker) take their context from
// Context, so a step that would normally wait a few seconds ends by the
// signal's deadline instead, whether the signal came before or during it.
package shutdown

import (
	"context"
	"errors"
	"os"
	"time"
)

const (
	// Grace is how long after the signal a command may go on finishing its
	// work: pub and bench waiting for acknowledgements of what they sent.
	Grace = 1200 * time.Millisecond
	// Budget is when, after the signal, every shutdown step must be over:
	// DISCONNECT, waiting for the session's goroutines, closing an
	// in-process broker.
	Budget = 2 * time.Second
	// Limit is when the root gives up on a clean stop and exits anyway; the
	// rest of the 3 s is for the process to exit.
	Limit = 2600 * time.Millisecond
)

// Signal is the cause of a context cancelled by SIGINT or SIGTERM.
type Signal struct {
	Sig os.Signal
	At  time.Time
}

func (s *Signal) Error() string { return "interrupted by " + Name(s.Sig) }

// Name is a signal's conventional name: SIGINT, SIGTERM.
func Name(sig os.Signal) string {
	switch sig.String() {
	case "interrupt":
		return "SIGINT"
	case "terminated":
		return "SIGTERM"
	}
	return sig.String()
}

// StoppedAt is when ctx was cancelled by a signal; for a context cancelled
// otherwise (tests, a parent's cancel) it is now; zero while ctx runs.
func StoppedAt(ctx context.Context) time.Time {
	if ctx.Err() == nil {
		return time.Time{}
	}
	var s *Signal
	if errors.As(context.Cause(ctx), &s) {
		return s.At
	}
	return time.Now()
}

// Context returns the context of a cleanup step of a run whose context is
// parent: it is not cancelled with parent, it ends after timeout (none when
// timeout <= 0), and, once parent is cancelled (before the step or during
// it), afterStop after the signal at the latest.
func Context(parent context.Context, timeout, afterStop time.Duration) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(parent)
	if parent.Err() != nil {
		// The usual case, a step after the signal: a plain deadline, which
		// steps can read (session.Close divides its time by it).
		d := StoppedAt(parent).Add(afterStop)
		if timeout > 0 {
			d = minTime(d, time.Now().Add(timeout))
		}
		return context.WithDeadline(base, d)
	}
	ctx, cancelStep := context.WithCancel(base)
	cancel := cancelStep
	if timeout > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, timeout)
		cancel = func() { cancelTimeout(); cancelStep() }
	}
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(time.Until(StoppedAt(parent).Add(afterStop)), cancelStep)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Wait runs f and waits for it until ctx ends; it reports whether f
// returned in time, and f's error when it did. f keeps running in its
// goroutine when it did not: for a close that may block for ever (an
// in-process broker), when the process is about to exit anyway.
func Wait(ctx context.Context, f func() error) (bool, error) {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		return false, nil
	}
}
