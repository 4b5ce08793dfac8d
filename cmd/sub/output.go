package sub

import (
	"io"
	"time"

	"github.com/iotctl/iotctl/pkg/session"
)

// output writes formatted messages and acknowledges them once written.
//
// The session's dispatcher goroutine runs the handler, which formats each
// message into buf and keeps its acknowledgement (the handler returns
// session.DeferAck). The batch is written with one write when the
// dispatcher has no further message waiting (session Options.Drained), when
// buf reaches bufSize, or at the end of the run; only after that write
// succeeded are the batch's acknowledgements sent. So a message the output
// did not accept is never acknowledged and the broker keeps it for a
// persistent session, while a burst still costs one write(2) and one
// network write of acknowledgements per batch, with no goroutine hand-off
// per message. A slow reader blocks the write, the session stops
// acknowledging and the broker holds back through Receive Maximum, so
// nothing piles up in iotctl.
type output struct {
	w   io.Writer
	ack func([]session.Ack)

	// sem is held while a message is buffered or a batch written: by the
	// handler, and by the shutdown, which gives up after a deadline when a
	// write blocks (a reader that stopped reading).
	sem chan struct{}

	buf  []byte
	acks []session.Ack // the QoS 1 and 2 messages in buf
	n    int           // messages in buf

	// removals are the topics of retained messages in buf that
	// --remove-retained deletes, handed to remove once buf is written.
	removals []string
	remove   func(topics []string)

	err     error // first write error: nothing is written or acknowledged after it
	closed  bool
	written int64 // messages written
	lost    int   // messages of a failed write
	lost0   int   // of which at QoS 0
}

const (
	bufSize = 64 << 10
	// keepBufAt: a larger buffer (from one large message) is dropped once
	// written.
	keepBufAt = 4 * bufSize
)

func newOutput(w io.Writer, ack func([]session.Ack)) *output {
	return &output{w: w, ack: ack, sem: make(chan struct{}, 1), buf: make([]byte, 0, bufSize)}
}

func (o *output) lock()   { o.sem <- struct{}{} }
func (o *output) unlock() { <-o.sem }

// lockWithin takes the lock unless a write holds it for longer than d.
func (o *output) lockWithin(d time.Duration) bool {
	select {
	case o.sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case o.sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// open reports whether messages may still be buffered (caller holds the lock).
func (o *output) open() bool { return o.err == nil && !o.closed }

// added records a message just appended to buf (caller holds the lock) and
// writes the batch once buf is full.
func (o *output) added(a session.Ack) error {
	o.n++
	if a != (session.Ack{}) {
		o.acks = append(o.acks, a)
	}
	if len(o.buf) >= bufSize {
		return o.flushLocked()
	}
	return nil
}

// flushLocked writes the batch, then acknowledges it (caller holds the lock).
func (o *output) flushLocked() error {
	if o.err != nil {
		return o.err
	}
	if len(o.buf) > 0 {
		if _, err := o.w.Write(o.buf); err != nil {
			o.fail(err)
			return err
		}
	}
	o.written += int64(o.n)
	if len(o.acks) > 0 {
		o.ack(o.acks)
	}
	o.removeWritten()
	o.reset()
	return nil
}

// removeWritten hands the written batch's retained topics to remove.
func (o *output) removeWritten() {
	if len(o.removals) > 0 && o.remove != nil {
		o.remove(o.removals)
	}
}

// writeParts writes one large message straight from its parts (its payload
// is not copied into buf), after the batch before it, then acknowledges
// both (caller holds the lock).
func (o *output) writeParts(a session.Ack, parts ...[]byte) error {
	if o.err != nil {
		return o.err
	}
	o.n++
	if a != (session.Ack{}) {
		o.acks = append(o.acks, a)
	}
	for _, p := range append([][]byte{o.buf}, parts...) {
		if len(p) == 0 {
			continue
		}
		if _, err := o.w.Write(p); err != nil {
			o.fail(err)
			return err
		}
	}
	o.written += int64(o.n)
	o.ack(o.acks)
	o.removeWritten()
	o.reset()
	return nil
}

// fail records a write error: the batch is not acknowledged.
func (o *output) fail(err error) {
	o.err = err
	o.lost += o.n
	o.lost0 += o.n - len(o.acks)
	o.reset()
}

// failOne records a message that could not be written to its own file
// (--out-dir; caller holds the lock): the batch before it, whose files are
// written, goes out and is acknowledged first; nothing is after it.
func (o *output) failOne(qos0 bool, err error) {
	_ = o.flushLocked() // a failure is recorded in o.err
	if o.err == nil {
		o.err = err
	}
	o.lost++
	if qos0 {
		o.lost0++
	}
}

func (o *output) reset() {
	o.buf = o.buf[:0]
	if cap(o.buf) > keepBufAt {
		o.buf = make([]byte, 0, bufSize)
	}
	clear(o.acks)
	o.acks = o.acks[:0]
	clear(o.removals)
	o.removals = o.removals[:0]
	o.n = 0
}

// flush writes and acknowledges what is buffered.
func (o *output) flush() error {
	o.lock()
	defer o.unlock()
	return o.flushLocked()
}

// finish writes and acknowledges what is buffered and closes the output; it
// returns errBlocked when a write did not return within d.
func (o *output) finish(d time.Duration) error {
	if !o.lockWithin(d) {
		return errBlocked
	}
	defer o.unlock()
	err := o.flushLocked()
	o.closed = true
	return err
}
