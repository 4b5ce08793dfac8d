package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/bench"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// startProgress shows a live line on stderr (a terminal): phase, elapsed,
// current rates, received and missing so far. Warnings written to w while it
// runs are printed above it. stop may be called more than once.
func startProgress(ctx context.Context, w *cmdutil.LockedWriter, b *bench.Bench) (stop func()) {
	out := w.W // only Swap changes it, from here
	p := mpb.NewWithContext(ctx, mpb.WithOutput(out), mpb.WithRefreshRate(250*time.Millisecond), mpb.WithWidth(30))
	var last bench.Progress
	var lastAt time.Time
	status := func(decor.Statistics) string {
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
	bar := p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(status)), mpb.BarFillerClearOnComplete())
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

var _ io.Writer = (*mpb.Progress)(nil)
