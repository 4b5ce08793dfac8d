package cmdutil

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/shutdown"
)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// A broker whose Close blocks (a deadlock inside it) does not hold the
// exit after a signal: CloseEmbedded returns by shutdown.Budget and says so.
func TestCloseEmbeddedDoesNotWaitForAStuckBroker(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithCancelCause(context.Background())
	signalAt := time.Now().Add(-shutdown.Budget + 100*time.Millisecond)
	cancel(&shutdown.Signal{Sig: syscall.SIGTERM, At: signalAt})
	ios, _, _, errOut := Test()
	CloseEmbedded(ctx, closerFunc(func() error { <-block; return nil }), ios.ErrOut)
	if since := time.Since(signalAt); since > shutdown.Budget+2*time.Second {
		t.Errorf("returned %s after the signal", since)
	}
	if !strings.Contains(errOut.String(), "iotctl: warning: the embedded broker did not stop in time") {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestCloseEmbeddedQuietWhenItStops(t *testing.T) {
	closed := false
	ios, _, _, errOut := Test()
	CloseEmbedded(context.Background(), closerFunc(func() error { closed = true; return nil }), ios.ErrOut)
	if !closed || errOut.Len() != 0 {
		t.Errorf("closed %t, stderr %q", closed, errOut.String())
	}
}
