package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/bench"
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
	line := &statusLine{out: out, status: status, width: func() int { return termWidth(out) }}
	w.Swap(line)
	stopTicks := every(ctx, 250*time.Millisecond, line.update)
	var once sync.Once
	return func() {
		once.Do(func() {
			stopTicks()
			line.update() // the last figures stay on the screen
			w.Swap(out)
		})
	}
}

// statusLine keeps the status as the last line of the terminal, redrawn
// every 250 ms: it rewrites it in place (cursor up, erase to the end of
// the screen) and prints what is written to it (warnings) above it. The line is cut to the
// terminal's width with a closing "…", so it never wraps.
type statusLine struct {
	mu     sync.Mutex
	out    io.Writer
	status func() string
	width  func() int
	last   string // as drawn, "" before the first
}

// update draws the current status in place of the last.
func (s *statusLine) update() {
	text := s.status()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redraw(nil, text)
}

// Write prints p above the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == "" { // not drawn yet
		return s.out.Write(p)
	}
	return len(p), s.redraw(p, s.last)
}

func (s *statusLine) redraw(above []byte, text string) error {
	var b []byte
	if s.last != "" {
		b = append(b, "\x1b[1A\x1b[J"...)
	}
	b = append(b, above...)
	text = fit(text, s.width())
	b = append(b, text...)
	b = append(b, '\n')
	s.last = text
	_, err := s.out.Write(b)
	return err
}

// fit cuts text to width columns, ending in "…" when cut (the status is
// ASCII but for that).
func fit(text string, width int) string {
	if width <= 0 || utf8.RuneCountInString(text) <= width {
		return text
	}
	r := []rune(text)
	return string(r[:width-1]) + "…"
}

// termWidth is the width of the terminal behind out, 0 if unknown.
func termWidth(out io.Writer) int {
	f, ok := out.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// plainTerminal reports whether the terminal behind out cannot take
// cursor movement: TERM=dumb, or a width of 0 (or unknown).
func plainTerminal(out io.Writer) bool {
	if os.Getenv("TERM") == "dumb" {
		return true
	}
	return termWidth(out) <= 0
}

// plainProgress prints status as a plain line every second: no escape
// codes, no carriage returns, no trailing spaces.
func plainProgress(ctx context.Context, w io.Writer, status func() string) (stop func()) {
	return every(ctx, time.Second, func() { fmt.Fprintf(w, "iotctl: bench: %s\n", status()) })
}

// every calls f every d until ctx ends or stop is called; stop returns once
// f is no longer running and may be called more than once.
func every(ctx context.Context, d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
				f()
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
