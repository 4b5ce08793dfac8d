package session

import (
	"io"
	"net"
	"testing"
	"time"
)

// arrivals is a connection whose data arrives at given times (from the
// start of the fake clock).
type arrivals struct {
	clock  *time.Time
	start  time.Time
	chunks []arrival
	late   time.Duration // the longest a chunk waited to be read
}

type arrival struct {
	at time.Duration
	n  int
}

// Read blocks until the next chunk arrives and returns every chunk that
// has arrived by then, as a socket does.
func (a *arrivals) Read(b []byte) (int, error) {
	if at := a.start.Add(a.chunks[0].at); a.clock.Before(at) {
		*a.clock = at
	}
	n := 0
	for len(a.chunks) > 0 && !a.start.Add(a.chunks[0].at).After(*a.clock) {
		a.late = max(a.late, a.clock.Sub(a.start.Add(a.chunks[0].at)))
		n += a.chunks[0].n
		a.chunks = a.chunks[1:]
	}
	return n, nil
}

// readConn is a connection that only reads.
type readConn struct {
	net.Conn
	r io.Reader
}

func (c readConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func TestPacedReader(t *testing.T) {
	const us, ms = time.Microsecond, time.Millisecond
	for _, tc := range []struct {
		name   string
		chunks []arrival
		sleeps []time.Duration // the wait before each read
		late   time.Duration   // the longest any data waited
	}{
		{"lone packets are never delayed",
			[]arrival{{0, 100}, {5 * time.Second, 100}, {8 * time.Second, 100}},
			[]time.Duration{0, 0, 0}, 0},
		{"a dribbling stream is read once per millisecond",
			[]arrival{{0, 100}, {50 * us, 100}, {70 * us, 100}, {1100 * us, 3000}, {1200 * us, 100}},
			[]time.Duration{0, 0, ms, ms}, 980 * us},
		{"no wait after a large read",
			[]arrival{{0, 100}, {10 * us, 100}, {20 * us, 64 << 10}, {30 * us, 100}, {2 * ms, 100}},
			[]time.Duration{0, 0, ms, 0}, 990 * us},
		{"a quiet moment ends the pacing",
			[]arrival{{0, 100}, {10 * us, 100}, {20 * us, 100}, {8 * ms, 100}, {8*ms + 10*us, 100}},
			[]time.Duration{0, 0, ms, ms, 0}, 990 * us},
		{"packets over a millisecond apart wait for nothing",
			[]arrival{{0, 100}, {1500 * us, 100}, {3000 * us, 100}, {4500 * us, 100}},
			[]time.Duration{0, 0, ms, ms}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(1000, 0)
			var slept time.Duration
			a := &arrivals{clock: &clock, start: clock, chunks: tc.chunks}
			p := &pacedConn{
				Conn: readConn{r: a},
				now:  func() time.Time { return clock },
				after: func(d time.Duration) <-chan time.Time {
					slept += d
					clock = clock.Add(d)
					c := make(chan time.Time, 1)
					c <- clock
					return c
				},
			}
			buf := make([]byte, 64<<10)
			for i, want := range tc.sleeps {
				slept = 0
				if _, err := p.Read(buf); err != nil {
					t.Fatal(err)
				}
				if slept != want {
					t.Fatalf("read %d: waited %v before it, want %v", i, slept, want)
				}
			}
			if a.late != tc.late {
				t.Fatalf("data waited up to %v to be read, want %v", a.late, tc.late)
			}
			if a.late > paceGap {
				t.Fatalf("data waited %v, more than %v", a.late, paceGap)
			}
		})
	}
}
