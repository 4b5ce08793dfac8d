package bench

import (
	"context"
	"time"
)

// clock gives Unix-nanosecond timestamps. The real one is read once from the
// wall clock and then advanced by the monotonic clock, so latencies inside
// one process never jump with NTP; across processes they are as good as the
// hosts' clock synchronisation.
type clock interface {
	Now() int64
	// SleepUntil returns at t or when ctx ends, with ctx's error.
	SleepUntil(ctx context.Context, timer *time.Timer, t int64) error
}

type realClock struct {
	wall int64
	mono time.Time
}

func newRealClock() realClock {
	t := time.Now()
	return realClock{wall: t.UnixNano(), mono: t}
}

func (c realClock) Now() int64 { return c.wall + int64(time.Since(c.mono)) }

func (c realClock) SleepUntil(ctx context.Context, timer *time.Timer, t int64) error {
	d := time.Duration(t - c.Now())
	if d <= 0 {
		return ctx.Err()
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		timer.Stop() // Go 1.23+: no stale value is left to drain
		return ctx.Err()
	}
}
