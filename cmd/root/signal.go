package root

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/iotctl/iotctl/internal/shutdown"
)

// stopper is the process's answer to SIGINT and SIGTERM. The first signal
// cancels the run's context (cause *shutdown.Signal) and the command stops
// within its deadlines; a second signal exits at once with 130, and so does
// a run still going shutdown.Limit after the first signal (with 1, as it
// did not stop cleanly).
type stopper struct {
	errOut io.Writer
	exit   func(int)
	limit  time.Duration
	echo   time.Duration // echoWindow
	// announce, when it returns true at the first signal, prints that the
	// command is stopping and how to make it exit at once.
	announce func() bool
	// extra, when set, is how much longer than limit the command may take
	// (Factory.StopExtra).
	extra func() time.Duration

	cancel   context.CancelCauseFunc
	finished chan struct{}
	once     sync.Once
}

// notifyContext starts watching signals for one run; stop ends watching.
func notifyContext(errOut io.Writer, announce func() bool, extra func() time.Duration) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	s := &stopper{errOut: errOut, exit: os.Exit, limit: shutdown.Limit, echo: echoWindow, announce: announce, extra: extra}
	ctx = s.start(sigs)
	return ctx, func() {
		signal.Stop(sigs)
		s.stop()
	}
}

func (s *stopper) start(sigs <-chan os.Signal) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	s.cancel, s.finished = cancel, make(chan struct{})
	go s.watch(sigs)
	return ctx
}

func (s *stopper) stop() {
	s.once.Do(func() {
		close(s.finished)
		s.cancel(nil)
	})
}

func (s *stopper) watch(sigs <-chan os.Signal) {
	var sig os.Signal
	select {
	case sig = <-sigs:
	case <-s.finished:
		return
	}
	s.cancel(&shutdown.Signal{Sig: sig, At: time.Now()})
	if s.announce != nil && s.announce() {
		fmt.Fprintf(s.errOut, "iotctl: %s: stopping (send it again to exit at once)\n", shutdown.Name(sig))
	}
	first, at := sig, time.Now()
	limit := s.limit
	if s.extra != nil {
		limit += s.extra()
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case sig = <-sigs:
			if sig == first && time.Since(at) < s.echo {
				continue // the same signal sent twice at once: one request
			}
			fmt.Fprintf(s.errOut, "iotctl: %s again: exiting at once\n", shutdown.Name(sig))
			s.exit(130)
			return
		case <-t.C:
			fmt.Fprintf(s.errOut, "iotctl: still not stopped %s after %s: exiting without a clean shutdown\n", limit, shutdown.Name(first))
			s.exit(1)
			return
		case <-s.finished:
			return
		}
	}
}

// echoWindow: a repeat of the first signal this soon is the same request
// delivered twice, not a second one: timeout(1) sends SIGTERM to the
// command and then to its process group. No one presses Ctrl-C twice this
// fast.
const echoWindow = 50 * time.Millisecond
