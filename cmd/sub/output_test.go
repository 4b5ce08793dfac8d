package sub

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records each Write call.
type countingWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
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

func TestOutputFlushesALoneMessage(t *testing.T) {
	w := &countingWriter{}
	o := newOutput(w)
	defer o.close()
	if err := o.write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := w.state(); s == "one\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a lone message was not flushed without close")
		}
		time.Sleep(time.Millisecond)
	}
	if err := o.write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	for {
		if s, _ := w.state(); s == "one\ntwo\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second message was not flushed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOutputBatchesABurst(t *testing.T) {
	w := &countingWriter{}
	o := newOutput(w)
	const n = 20000
	for i := range n {
		if err := o.write([]byte("message\n")); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := o.close(); err != nil {
		t.Fatal(err)
	}
	s, writes := w.state()
	if s != strings.Repeat("message\n", n) {
		t.Fatalf("output lost or reordered: %d bytes", len(s))
	}
	if writes > n/2 {
		t.Errorf("%d writes for %d messages: a burst should be batched", writes, n)
	}
	t.Logf("%d writes for %d messages", writes, n)
}

func TestOutputWriteError(t *testing.T) {
	w := &countingWriter{err: errors.New("disk full")}
	o := newOutput(w)
	big := bytes.Repeat([]byte("x"), bufSize+1) // larger than the buffer: written at once
	if err := o.write(big); err == nil {
		t.Fatal("no error")
	}
	if err := o.close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("close: %v", err)
	}
}
