package sub

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// output writes formatted messages through a bufio.Writer. The handler
// writes into the buffer itself (when stdout is slow the write blocks, the
// session stops acknowledging and the broker holds back through Receive
// Maximum, so nothing piles up in iotctl), and a flusher goroutine flushes
// once the handler has stopped writing: a pipe sees a lone message at once,
// a burst becomes a few large writes. Handing every message to a writer
// goroutine instead costs a goroutine wake-up per message, which was most
// of sub's CPU time in scripts/bench-peers.sh.
type output struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error

	seq   atomic.Uint64 // messages written
	armed atomic.Bool   // the flusher has been told there is something to flush
	wake  chan struct{}
	eof   chan struct{} // closed by close
	done  chan struct{} // closed when the flusher has returned
}

const (
	bufSize   = 64 << 10
	keepBufAt = 64 << 10 // a larger formatting buffer is not kept
	// burstGap is how long the flusher waits for the next message of a
	// burst before flushing anyway.
	burstGap = 50 * time.Microsecond
)

func newOutput(w io.Writer) *output {
	o := &output{
		w:    bufio.NewWriterSize(w, bufSize),
		wake: make(chan struct{}, 1),
		eof:  make(chan struct{}),
		done: make(chan struct{}),
	}
	go o.flusher()
	return o
}

// write buffers one message; the flusher will flush it.
func (o *output) write(b []byte) error {
	o.mu.Lock()
	if o.err == nil {
		if _, err := o.w.Write(b); err != nil {
			o.err = err
		}
	}
	err := o.err
	o.mu.Unlock()
	o.seq.Add(1)
	if !o.armed.Load() && o.armed.CompareAndSwap(false, true) {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return err
}

func (o *output) flusher() {
	defer close(o.done)
	for {
		select {
		case <-o.wake:
		case <-o.eof:
			return
		}
		// Flush once no message came while we looked away: first a yield,
		// which is enough when the handler has nothing more, then short
		// sleeps while a burst goes on.
		seq := o.seq.Load()
		runtime.Gosched()
		for o.seq.Load() != seq {
			seq = o.seq.Load()
			time.Sleep(burstGap)
		}
		o.armed.Store(false)
		o.flush()
	}
}

func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = o.w.Flush()
	}
}

// Err is the first write error.
func (o *output) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// close stops the flusher and flushes what is buffered.
func (o *output) close() error {
	close(o.eof)
	<-o.done
	o.flush()
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
