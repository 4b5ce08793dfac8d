package shutdown

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

func cancelled(at time.Time) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&Signal{Sig: syscall.SIGTERM, At: at})
	return ctx
}

func TestContextAfterTheSignal(t *testing.T) {
	at := time.Now().Add(-time.Second)
	ctx, cancel := Context(cancelled(at), time.Hour, 1500*time.Millisecond)
	defer cancel()
	dl, ok := ctx.Deadline()
	if !ok || !dl.Equal(at.Add(1500*time.Millisecond)) {
		t.Fatalf("deadline %v (%t), want the signal + 1.5s", dl, ok)
	}
	// A shorter own timeout wins.
	ctx2, cancel2 := Context(cancelled(at), 10*time.Millisecond, time.Hour)
	defer cancel2()
	if dl, _ := ctx2.Deadline(); time.Until(dl) > 10*time.Millisecond {
		t.Fatalf("deadline in %s, want within 10ms", time.Until(dl))
	}
	// Long past the budget: done at once.
	ctx3, cancel3 := Context(cancelled(time.Now().Add(-time.Hour)), time.Hour, time.Second)
	defer cancel3()
	<-ctx3.Done()
}

func TestContextSignalDuringTheStep(t *testing.T) {
	run, stop := context.WithCancelCause(context.Background())
	ctx, cancel := Context(run, time.Hour, 50*time.Millisecond)
	defer cancel()
	if ctx.Err() != nil {
		t.Fatal("done before the signal")
	}
	stop(&Signal{Sig: syscall.SIGINT, At: time.Now()})
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not done 5s after the signal with a 50ms budget")
	}
	if run.Err() == nil || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("ctx.Err() = %v", ctx.Err())
	}
}

func TestContextOwnTimeoutBeforeAnySignal(t *testing.T) {
	run, stop := context.WithCancel(context.Background())
	defer stop()
	ctx, cancel := Context(run, 20*time.Millisecond, time.Hour)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the step's own timeout did not end it")
	}
	if run.Err() != nil {
		t.Fatal("the step's timeout cancelled the run")
	}
}

func TestStoppedAt(t *testing.T) {
	if !StoppedAt(context.Background()).IsZero() {
		t.Error("a running context has a stop time")
	}
	at := time.Now().Add(-time.Minute)
	if got := StoppedAt(cancelled(at)); !got.Equal(at) {
		t.Errorf("StoppedAt = %v, want %v", got, at)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := StoppedAt(ctx); time.Since(got) > time.Minute {
		t.Errorf("a plain cancel stopped at %v", got)
	}
}

func TestWait(t *testing.T) {
	boom := errors.New("boom")
	if ok, err := Wait(context.Background(), func() error { return boom }); !ok || err != boom {
		t.Errorf("Wait = %t, %v", ok, err)
	}
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if ok, _ := Wait(ctx, func() error { <-block; return nil }); ok {
		t.Error("Wait says a blocked f returned")
	}
}

func TestSignalNames(t *testing.T) {
	if got := (&Signal{Sig: syscall.SIGTERM}).Error(); got != "interrupted by SIGTERM" {
		t.Errorf("%q", got)
	}
	if Name(syscall.SIGINT) != "SIGINT" {
		t.Errorf("%q", Name(syscall.SIGINT))
	}
}
