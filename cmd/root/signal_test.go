package root

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/internal/testenv"
)

// startStopper runs a stopper on a fake signal channel; exits receives
// the codes it would exit with.
func startStopper(t *testing.T, limit, echo time.Duration, announce bool) (context.Context, chan os.Signal, chan int, *testenv.SyncBuffer, *stopper) {
	t.Helper()
	sigs := make(chan os.Signal, 3)
	exits := make(chan int, 1)
	errOut := &testenv.SyncBuffer{}
	s := &stopper{errOut: errOut, exit: func(code int) { exits <- code }, limit: limit, echo: echo, announce: func() bool { return announce }}
	ctx := s.start(sigs)
	t.Cleanup(s.stop)
	return ctx, sigs, exits, errOut, s
}

func TestFirstSignalCancelsWithItsCause(t *testing.T) {
	ctx, sigs, exits, errOut, s := startStopper(t, time.Hour, echoWindow, false)
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	var sig *shutdown.Signal
	if !errors.As(context.Cause(ctx), &sig) || sig.Sig != syscall.SIGTERM || time.Since(sig.At) > time.Minute {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	// The run ends: no exit from the stopper.
	s.stop()
	select {
	case code := <-exits:
		t.Fatalf("exit %d after a clean stop", code)
	default:
	}
	if errOut.String() != "" {
		t.Errorf("stderr %q without announce", errOut.String())
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	ctx, sigs, exits, errOut, _ := startStopper(t, time.Hour, 0, true)
	sigs <- syscall.SIGINT
	<-ctx.Done()
	sigs <- syscall.SIGINT
	wantExit(t, exits, 130, "no exit on the second signal")
	if got := errOut.String(); got != "iotctl: SIGINT: stopping (send it again to exit at once)\niotctl: SIGINT again: exiting at once\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestStuckRunExitsAfterTheLimit(t *testing.T) {
	ctx, sigs, exits, errOut, _ := startStopper(t, 10*time.Millisecond, echoWindow, false)
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	wantExit(t, exits, 1, "no exit after the limit")
	if got := errOut.String(); !strings.Contains(got, "iotctl: still not stopped 10ms after SIGTERM: exiting without a clean shutdown") {
		t.Errorf("stderr %q", got)
	}
}

// A command that asked for more time (Factory.StopExtra: jobs run
// --grace) gets it on top of the limit.
func TestStopExtraExtendsTheLimit(t *testing.T) {
	ctx, sigs, exits, errOut, s := startStopper(t, 10*time.Millisecond, echoWindow, false)
	s.extra = func() time.Duration { return 20 * time.Millisecond }
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	wantExit(t, exits, 1, "no exit after the extended limit")
	if got := errOut.String(); !strings.Contains(got, "iotctl: still not stopped 30ms after SIGTERM") {
		t.Errorf("stderr %q", got)
	}
}

// timeout(1) sends SIGTERM twice at once: that is one request to stop.
func TestSignalEchoIsNotASecondSignal(t *testing.T) {
	ctx, sigs, exits, errOut, _ := startStopper(t, time.Hour, time.Hour, false) // the echo may come late on a loaded machine
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGINT // a real second signal
	<-ctx.Done()
	wantExit(t, exits, 130, "no exit on the second signal")
	if got := errOut.String(); got != "iotctl: SIGINT again: exiting at once\n" {
		t.Errorf("stderr %q: the echo counted as the second signal", got)
	}
}

// wantExit fails unless the stopper exits with code within 10 s; missing
// says what did not happen.
func wantExit(t *testing.T, exits <-chan int, code int, missing string) {
	t.Helper()
	select {
	case got := <-exits:
		if got != code {
			t.Errorf("exit %d, want %d", got, code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(missing)
	}
}
