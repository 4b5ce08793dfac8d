package bench

import (
	"sync"
	"sync/atomic"

	"github.com/iotctl/iotctl/pkg/session"
)

// book holds one receiver's trackers, one per publisher (keyed by run tag
// and publisher ID). Subscribers of a shared subscription share one book,
// behind its lock; otherwise a book belongs to one subscriber's handler.
type book struct {
	mu       *sync.Mutex // nil: not shared
	trackers map[uint64]*Tracker
}

func newBook(shared bool) *book {
	b := &book{trackers: map[uint64]*Tracker{}}
	if shared {
		b.mu = &sync.Mutex{}
	}
	return b
}

func bookKey(runTag, publisher uint32) uint64 { return uint64(runTag)<<32 | uint64(publisher) }

func (b *book) observe(h Header) (Arrival, int64) {
	if b.mu != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
	}
	k := bookKey(h.RunTag, h.Publisher)
	t := b.trackers[k]
	if t == nil {
		t = &Tracker{}
		b.trackers[k] = t
	}
	before := t.Missing()
	a := t.Observe(h.Seq)
	return a, int64(t.Missing()) - int64(before)
}

// subscriber receives and measures. Its handler runs on the session's one
// dispatch goroutine, which owns the recorder.
type subscriber struct {
	clock  clock
	runTag uint32
	anyRun bool // sub mode with no run ID: every run's messages count
	book   *book
	e2e    recorder

	received atomic.Uint64 // distinct messages
	missing  atomic.Int64  // gaps seen so far, for progress
	ignored  atomic.Uint64
	first    atomic.Int64  // first counted arrival, Unix ns
	last     atomic.Int64  // latest counted arrival, Unix ns
	arrived  chan struct{} // closed at the first counted arrival (sub mode)
	once     sync.Once
}

func newSubscriber(clk clock, runTag uint32, anyRun bool, b *book) *subscriber {
	return &subscriber{clock: clk, runTag: runTag, anyRun: anyRun, book: b, e2e: newRecorder(), arrived: make(chan struct{})}
}

func (s *subscriber) handle(m *session.Message) error {
	now := s.clock.Now()
	h, ok := ParseHeader(m.Payload)
	if !ok || h.Warmup || (!s.anyRun && h.RunTag != s.runTag) {
		s.ignored.Add(1)
		return nil
	}
	a, gaps := s.book.observe(h)
	if gaps != 0 {
		s.missing.Add(gaps)
	}
	if a == Duplicate {
		return nil
	}
	s.e2e.record(now - h.Time)
	s.received.Add(1)
	s.last.Store(now)
	s.once.Do(func() {
		s.first.Store(now)
		close(s.arrived)
	})
	return nil
}
