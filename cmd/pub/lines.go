package pub

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session"
)

// batch is a run of messages read from the input; err, when set, comes
// after them (a line that must not be published, or a read error).
type batch struct {
	msgs []*session.Message
	err  error
}

const (
	batchSize = 256
	slabSize  = 64 << 10
)

// lineReader turns input lines into messages in constant memory: payloads
// are carved from shared 64 KiB slabs and messages from arrays, so a line
// costs no allocation of its own; a slab is freed once every message in it
// is acknowledged. A line longer than max stops the reader before it
// becomes a message.
type lineReader struct {
	r      io.Reader
	max    int
	limits string // rules name, for the error
	utf8   bool
	tmpl   *session.Message
	enc    cmdutil.Encoding // lines are decoded before they are checked
	dec    []byte           // decoded line

	slab  []byte
	msgs  []session.Message
	line  int
	acc   []byte
	batch batch
}

func (lr *lineReader) run(out chan<- batch, stop <-chan struct{}) {
	defer close(out)
	send := func() bool {
		if len(lr.batch.msgs) == 0 && lr.batch.err == nil {
			return true
		}
		select {
		case out <- lr.batch:
			lr.batch = batch{}
			return true
		case <-stop:
			return false
		}
	}
	br := bufio.NewReaderSize(lr.r, 64<<10)
	for {
		frag, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			lr.acc = append(lr.acc, frag...)
			if len(lr.acc) > lr.max+2 {
				lr.batch.err = lr.tooLong(lr.line + 1)
				send()
				return
			}
			continue
		}
		line := frag
		if len(lr.acc) > 0 {
			lr.acc = append(lr.acc, frag...)
			line = lr.acc
		}
		if len(line) > 0 {
			lr.line++
			n := len(line)
			if line[n-1] == '\n' {
				n--
				if n > 0 && line[n-1] == '\r' {
					n--
				}
			}
			line = line[:n]
			if lr.enc != "" {
				dec, err := lr.enc.Decode(lr.dec[:0], line, "--lines: line "+strconv.Itoa(lr.line))
				if err != nil {
					lr.batch.err = err
					send()
					return
				}
				line, lr.dec = dec, dec
			}
			if len(line) > lr.max {
				lr.batch.err = lr.tooLong(lr.line)
				send()
				return
			}
			if lr.utf8 && !utf8.Valid(line) {
				lr.batch.err = errs.Usagef("--lines: line %d is not valid UTF-8 but --payload-format utf8 was given: use --payload-format bytes", lr.line)
				send()
				return
			}
			lr.batch.msgs = append(lr.batch.msgs, lr.message(line))
			if len(lr.acc) > 0 {
				lr.acc = lr.acc[:0]
				if cap(lr.acc) > 1<<20 {
					lr.acc = nil
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				lr.batch.err = errs.Usagef("--lines: read the input after line %d: %v", lr.line, err)
			}
			send()
			return
		}
		// Send when full, or when the next read may block (a terminal, a
		// slow pipe): lines go out as they come.
		if len(lr.batch.msgs) >= batchSize || br.Buffered() == 0 {
			if !send() {
				return
			}
		}
	}
}

func (lr *lineReader) tooLong(n int) error {
	return errs.Usagef("--lines: line %d is longer than the payload limit of %d bytes (--limits %s): it and the lines after it were not published", n, lr.max, lr.limits)
}

func (lr *lineReader) message(line []byte) *session.Message {
	if len(lr.msgs) == 0 {
		lr.msgs = make([]session.Message, batchSize)
	}
	m := &lr.msgs[0]
	lr.msgs = lr.msgs[1:]
	*m = *lr.tmpl
	if len(line) > slabSize/4 {
		m.Payload = append([]byte(nil), line...)
		return m
	}
	if cap(lr.slab)-len(lr.slab) < len(line) {
		lr.slab = make([]byte, 0, slabSize)
	}
	start := len(lr.slab)
	lr.slab = append(lr.slab, line...)
	m.Payload = lr.slab[start:len(lr.slab):len(lr.slab)]
	return m
}

// pacer spaces messages by --rate and --interval on an absolute schedule,
// sleeping at least a millisecond at a time so high rates cost no sleep
// per message.
type pacer struct {
	rate     float64
	interval time.Duration
	start    time.Time
	n        int64
}

func newPacer(rate float64, interval time.Duration) *pacer {
	return &pacer{rate: rate, interval: interval}
}

func (p *pacer) wait(ctx context.Context) error {
	if p.rate <= 0 && p.interval <= 0 {
		return nil
	}
	now := time.Now()
	if p.n == 0 {
		p.start = now
	}
	var due time.Time
	if p.rate > 0 {
		due = p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))
	}
	if p.interval > 0 {
		if d := p.start.Add(time.Duration(p.n) * p.interval); d.After(due) {
			due = d
		}
	}
	p.n++
	wait := due.Sub(now)
	if wait <= 0 {
		return ctx.Err()
	}
	wait = max(wait, time.Millisecond)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
