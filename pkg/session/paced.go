package session

import (
	"io"
	"time"
)

// pacedReader reads a busy connection in batches (Options.Coalesce). A
// client faster than its broker is woken for every few packets the broker
// writes, and each wake-up (poll, read, TCP window update, scheduler) costs
// more than the packets it reads: 200,000 QoS 0 messages arrived in about
// 50,000 reads of ~100 bytes. While reads are small and come less than
// 2×paceGap apart, the next read waits until paceGap after the previous
// one, so a dribbling stream is read about once per paceGap, whatever lies
// in the socket buffer by then in one read. Data never waits more than
// paceGap; a read after a quiet moment, and any read after a large one, is
// not delayed; packets spaced more than paceGap apart are not delayed at
// all (the wait ends before they arrive).
type pacedReader struct {
	r    io.Reader
	last time.Time // when the previous read returned
	pace bool      // the previous read was small and soon after the one before

	now   func() time.Time    // tests; nil: time.Now
	sleep func(time.Duration) // tests; nil: time.Sleep
}

const (
	paceGap   = time.Millisecond
	paceSmall = 8 << 10 // bytes: a read below this is small
)

func (p *pacedReader) Read(b []byte) (int, error) {
	now, sleep := time.Now, time.Sleep
	if p.now != nil {
		now, sleep = p.now, p.sleep
	}
	if p.pace {
		if d := paceGap - now().Sub(p.last); d > 0 {
			sleep(d)
		}
	}
	n, err := p.r.Read(b)
	t := now()
	p.pace = n < paceSmall && !p.last.IsZero() && t.Sub(p.last) < 2*paceGap
	p.last = t
	return n, err
}
