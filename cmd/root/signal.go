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
	// announce, when it returns true at the first signal, prints that the
	// command is stopping and how to make it exit at once.
	announce func() bool

	cancel   context.CancelCauseFunc
	finished chan struct{}
	once     sync.Once
}

// notifyContext starts watching signals for one run; stop ends watching.
func notifyContext(errOut io.Writer, announce func() bool) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	s := &stopper{errOut: errOut, exit: os.Exit, limit: shutdown.Limit, announce: announce}
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
	t := time.NewTimer(s.limit)
	defer t.Stop()
	select {
	case sig = <-sigs:
		fmt.Fprintf(s.errOut, "iotctl: %s again: exiting at once\n", shutdown.Name(sig))
		s.exit(130)
	case <-t.C:
		fmt.Fprintf(s.errOut, "iotctl: still not stopped %s after %s: exiting without a clean shutdown\n", s.limit, shutdown.Name(sig))
		s.exit(1)
	case <-s.finished:
	}
}
