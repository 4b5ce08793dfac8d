package sub

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/session"
)

// countingWriter records each Write call; it fails with err once it holds
// failAt bytes or more.
type countingWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	failAt int // 0: never
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failAt > 0 && c.b.Len()+len(p) > c.failAt {
		return 0, c.err
	}
	c.writes++
	return c.b.Write(p)
}

func (c *countingWriter) state() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String(), c.writes
}

// add buffers one formatted message the way the handler does.
func add(t *testing.T, o *output, b []byte) error {
	t.Helper()
	o.lock()
	defer o.unlock()
	if !o.open() {
		t.Fatal("output closed")
	}
	o.buf = append(o.buf, b...)
	return o.added(session.Ack{})
}

func TestOutputBatches(t *testing.T) {
	w := &countingWriter{}
	o := newOutput(w, func([]session.Ack) {})
	const n = 20000
	for i := range n {
		if err := add(t, o, []byte("message\n")); err != nil {
			t.Fatal(i, err)
		}
	}
	if s, _ := w.state(); len(s) == 0 || len(s) > n*len("message\n") {
		t.Fatalf("a full buffer was not written: %d bytes", len(s))
	}
	if err := o.finish(time.Second); err != nil {
		t.Fatal(err)
	}
	s, writes := w.state()
	if s != strings.Repeat("message\n", n) {
		t.Fatalf("output lost or reordered: %d bytes", len(s))
	}
	if want := n*len("message\n")/bufSize + 1; writes > want {
		t.Errorf("%d writes for %d messages, want at most %d (one per full buffer)", writes, n, want)
	}
	if o.written != n {
		t.Errorf("written %d, want %d", o.written, n)
	}
}

// After a failed write nothing more is written and the batch is counted
// as lost.
func TestOutputWriteError(t *testing.T) {
	w := &countingWriter{failAt: 10, err: errors.New("disk full")}
	o := newOutput(w, func([]session.Ack) { t.Error("acknowledged a failed batch") })
	for range 3 {
		add(t, o, []byte("line\n"))
	}
	if err := o.flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("flush: %v", err)
	}
	o.lock()
	open, lost, lost0 := o.open(), o.lost, o.lost0
	o.unlock()
	if open || lost != 3 || lost0 != 3 {
		t.Fatalf("open %t lost %d (QoS 0: %d), want closed, 3, 3", open, lost, lost0)
	}
	if err := o.finish(time.Second); err == nil {
		t.Fatal("finish after a failed write: no error")
	}
	if s, _ := w.state(); s != "" {
		t.Errorf("wrote %q after the error", s)
	}
}

// A large message goes out from its parts, after what was buffered before it.
func TestOutputWriteParts(t *testing.T) {
	w := &countingWriter{}
	o := newOutput(w, func([]session.Ack) {})
	add(t, o, []byte("small\n"))
	big := bytes.Repeat([]byte("b"), 3*bufSize)
	o.lock()
	err := o.writeParts(session.Ack{}, []byte("topic "), big, []byte("\n"))
	o.unlock()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.state()
	if s != "small\ntopic "+string(big)+"\n" {
		t.Fatalf("output %d bytes, starts %q", len(s), s[:min(len(s), 20)])
	}
	if o.written != 2 {
		t.Errorf("written %d, want 2", o.written)
	}
}

// blockingWriter blocks every Write until release is closed; entered
// receives a value when a Write starts.
type blockingWriter struct{ entered, release chan struct{} }

func (b blockingWriter) Write(p []byte) (int, error) {
	b.entered <- struct{}{}
	<-b.release
	return len(p), nil
}

// The end of a run does not wait for ever for a reader that stopped reading.
func TestOutputFinishGivesUpOnABlockedWrite(t *testing.T) {
	w := blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(w.release)
	o := newOutput(w, func([]session.Ack) { t.Error("acknowledged an unwritten batch") })
	add(t, o, []byte("x\n"))
	go o.flush() // blocks in Write, holding the output
	<-w.entered
	start := time.Now()
	if err := o.finish(200 * time.Millisecond); err != errBlocked {
		t.Fatalf("finish: %v, want errBlocked", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("finish took %s", d)
	}
}

// --remove-retained deletes a retained message only once its batch is
// written: a failed write deletes nothing.
func TestRemovalsFollowTheWrite(t *testing.T) {
	var removed []string
	o := newOutput(failAfter{}, func([]session.Ack) {})
	o.remove = func(topics []string) { removed = append(removed, topics...) }
	o.lock()
	o.buf = append(o.buf, "x\n"...)
	o.removals = append(o.removals, "kept/topic")
	_ = o.added(session.Ack{})
	err := o.flushLocked()
	o.unlock()
	if err == nil || len(removed) != 0 {
		t.Fatalf("write error %v, removed %v: want an error and nothing removed", err, removed)
	}

	o = newOutput(io.Discard, func([]session.Ack) {})
	o.remove = func(topics []string) { removed = append(removed, topics...) }
	o.lock()
	o.buf = append(o.buf, "y\n"...)
	o.removals = append(o.removals, "gone/topic")
	_ = o.added(session.Ack{})
	err = o.flushLocked()
	o.unlock()
	if err != nil || len(removed) != 1 || removed[0] != "gone/topic" {
		t.Fatalf("write error %v, removed %v: want gone/topic removed", err, removed)
	}
}

type failAfter struct{}

func (failAfter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
