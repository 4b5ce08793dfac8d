package sub

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"sync"
)

// output writes formatted messages through a bufio.Writer from its own
// goroutine. It flushes whenever no message is waiting, so a pipe sees each
// message at once while a burst becomes a few large writes. The queue is
// bounded: when the reader of stdout is slow, the handler blocks, the
// session stops acknowledging, and the broker holds back (flow control
// through Receive Maximum) instead of iotctl buffering without limit.
type output struct {
	w     *bufio.Writer
	queue chan *[]byte
	eof   chan struct{} // closed when no more messages will be queued
	done  chan struct{} // closed when everything queued is written and flushed

	mu  sync.Mutex
	err error
}

const (
	queueLen  = 256
	bufSize   = 64 << 10
	keepBufAt = 64 << 10 // larger message buffers are not pooled
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= keepBufAt {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

func newOutput(w io.Writer) *output {
	o := &output{
		w:     bufio.NewWriterSize(w, bufSize),
		queue: make(chan *[]byte, queueLen),
		eof:   make(chan struct{}),
		done:  make(chan struct{}),
	}
	go o.run()
	return o
}

func (o *output) run() {
	defer close(o.done)
	for {
		select {
		case b := <-o.queue:
			o.write(b)
			continue
		default:
		}
		if o.w.Buffered() > 0 {
			// Let a producer that is about to queue the next message do so:
			// in a burst that saves a write per message.
			runtime.Gosched()
			if len(o.queue) > 0 {
				continue
			}
			o.flush()
		}
		select {
		case b := <-o.queue:
			o.write(b)
		case <-o.eof:
			o.drain()
			o.flush()
			return
		}
	}
}

func (o *output) drain() {
	for {
		select {
		case b := <-o.queue:
			o.write(b)
		default:
			return
		}
	}
}

func (o *output) write(b *[]byte) {
	if o.Err() == nil {
		if _, err := o.w.Write(*b); err != nil {
			o.setErr(err)
		}
	}
	putBuf(b)
}

func (o *output) flush() {
	if o.Err() == nil {
		if err := o.w.Flush(); err != nil {
			o.setErr(err)
		}
	}
}

func (o *output) setErr(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
}

// Err is the first write error.
func (o *output) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// close waits until everything queued is written and flushed. Nothing may
// be queued after it is called.
func (o *output) close() error {
	close(o.eof)
	<-o.done
	return o.Err()
}

// guardStdout keeps stdout for messages only. When out is the process's
// stdout, iotctl keeps writing to that *os.File while the os.Stdout variable
// is pointed at stderr: a library that prints with fmt.Println (paho.golang
// v0.23.0's sendquota.go does, in a race) then lands on stderr instead of in
// the middle of the output. Keeping the same file (rather than a dup of
// fd 1) keeps the usual SIGPIPE exit when the reader goes away, as with
// mosquitto_sub | head. It must run before any goroutine that may print
// starts; restore runs after they are gone.
func guardStdout(out io.Writer) (restore func()) {
	f, ok := out.(*os.File)
	if !ok || f != os.Stdout || os.Stderr == nil {
		return func() {}
	}
	os.Stdout = os.Stderr
	return func() { os.Stdout = f }
}

// syncWriter serialises writes to stderr from the session's goroutines and ours.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
