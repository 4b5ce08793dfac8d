package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/bench"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// startProgress shows a live line on stderr (a terminal): phase, elapsed,
// current rates, received and missing so far. Warnings written to w while it
// runs are printed above it. On a terminal that cannot move the cursor
// (TERM=dumb, or width 0: an editor's or CI's pseudo-terminal) it prints a
// plain line every second instead. stop may be called more than once.
func startProgress(ctx context.Context, w *cmdutil.LockedWriter, b *bench.Bench) (stop func()) {
	var last bench.Progress
	var lastAt time.Time
	status := func() string {
		now, cur := time.Now(), b.Progress()
		var pubRate, recvRate float64
		if dt := now.Sub(lastAt).Seconds(); !lastAt.IsZero() && dt > 0 {
			pubRate = float64(cur.Published-last.Published) / dt
			recvRate = float64(cur.Received-last.Received) / dt
		}
		last, lastAt = cur, now
		return fmt.Sprintf("%-9s %6.1fs  pub %8.0f/s  recv %8.0f/s  received %d  missing %d  conns %d",
			cur.Phase, cur.Elapsed.Seconds(), pubRate, recvRate, cur.Received, cur.Missing, cur.Connected)
	}
	if plainTerminal(w.W) {
		return plainProgress(ctx, w, status)
	}
	out := w.W // only Swap changes it, from here
	p := mpb.NewWithContext(ctx, mpb.WithOutput(out), mpb.WithRefreshRate(250*time.Millisecond), mpb.WithWidth(30))
	bar := p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return status() })), mpb.BarFillerClearOnComplete())
	w.Swap(p)
	var once sync.Once
	return func() {
		once.Do(func() {
			w.Swap(out)
			bar.SetTotal(-1, true)
			p.Wait()
		})
	}
}

// plainTerminal reports whether the terminal behind out cannot take
// cursor movement: TERM=dumb, or a width of 0 (or unknown).
func plainTerminal(out io.Writer) bool {
	if os.Getenv("TERM") == "dumb" {
		return true
	}
	f, ok := out.(interface{ Fd() uintptr })
	if !ok {
		return true
	}
	width, _, err := term.GetSize(int(f.Fd()))
	return err != nil || width <= 0
}

// plainProgress prints status as a plain line every second: no escape
// codes, no carriage returns, no trailing spaces.
func plainProgress(ctx context.Context, w io.Writer, status func() string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "iotctl: bench: %s\n", status())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

var _ io.Writer = (*mpb.Progress)(nil)
