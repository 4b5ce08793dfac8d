package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/session"
)

// Dialer opens one connection. The command builds it from the profile's
// settings and auth provider, so every auth method works; tests point it at
// a test broker.
type Dialer func(ctx context.Context, c ClientSpec) (*session.Session, error)

// ClientSpec is one connection a run needs.
type ClientSpec struct {
	ClientID string
	// Handler receives messages (subscribers); nil for publishers.
	Handler func(*session.Message) error
	// OnConnect must be passed to the session: it counts connections.
	OnConnect func(session.Capabilities)
	// Reconnect: keep the client going through connection losses (all
	// modes but conn).
	Reconnect bool
	// TopicAlias: publish with MQTT 5 topic aliases.
	TopicAlias bool
}

// Bench is one run: New checks the configuration, Run runs it, Progress may
// be called meanwhile from another goroutine.
type Bench struct {
	cfg    Config
	target Target
	dial   Dialer
	clock  clock
	warn   func(string)

	pubs  []*publisher
	subs  []*subscriber
	books []*book

	phase       atomic.Value // string
	t0          atomic.Int64 // measuring started, Unix ns
	connected   atomic.Int64
	failed      atomic.Uint64
	reconnects  atomic.Uint64
	disconnects atomic.Uint64
	closing     atomic.Bool
	receiveMax  atomic.Int64
	rampStart   int64 // first connection attempt, Unix ns (Run's goroutine)

	connMu  sync.Mutex
	connRec recorder
}

// New prepares a run. warn (may be nil) receives warnings such as lost
// connections, from any goroutine.
func New(cfg Config, target Target, dial Dialer, warn func(string)) (*Bench, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if warn == nil {
		warn = func(string) {}
	}
	b := &Bench{cfg: cfg, target: target, dial: dial, clock: newRealClock(), warn: warn, connRec: newRecorder()}
	b.phase.Store("connecting")
	b.makeClients()
	return b, nil
}

// makeClients creates the publishers and subscribers; their sessions come
// in Run. Progress reads them, so the slices never change afterwards.
func (b *Bench) makeClients() {
	c := &b.cfg
	if c.Mode == Roundtrip || c.Mode == Sub {
		anyRun := c.Mode == Sub && c.RunID == ""
		var shared *book
		if c.Shared != "" {
			shared = newBook(true)
			b.books = []*book{shared}
		}
		for range c.Subscribers {
			bk := shared
			if bk == nil {
				bk = newBook(false)
				b.books = append(b.books, bk)
			}
			b.subs = append(b.subs, newSubscriber(b.clock, RunTag(c.RunID), anyRun, bk))
		}
	}
	if c.Mode == Roundtrip || c.Mode == Pub {
		for j := range c.Publishers {
			b.pubs = append(b.pubs, newPublisher(c, j, b.clock, nil))
		}
	}
}

// Config returns the configuration with defaults filled in.
func (b *Bench) Config() Config { return b.cfg }

// Progress is a snapshot of a running bench.
type Progress struct {
	Phase     string        // connecting, warm-up, measuring, draining, closing
	Elapsed   time.Duration // since measuring started
	Connected int
	Published uint64
	Received  uint64 // distinct messages, all subscribers
	Missing   int64  // gaps in the sequences seen so far (may still arrive)
	// Total is what a count-limited run publishes and each group of
	// subscribers expects, 0 when the run is time-limited.
	Total uint64
}

// Progress is safe to call while Run runs.
func (b *Bench) Progress() Progress {
	p := Progress{Phase: b.phase.Load().(string), Connected: int(b.connected.Load())}
	if t0 := b.t0.Load(); t0 > 0 {
		p.Elapsed = time.Duration(b.clock.Now() - t0)
	}
	for _, x := range b.pubs {
		p.Published += x.published.Load()
	}
	for _, s := range b.subs {
		p.Received += s.received.Load()
		p.Missing += s.missing.Load()
	}
	if b.cfg.Count > 0 {
		p.Total = uint64(b.cfg.Count) * uint64(max(b.cfg.Publishers, 1))
	}
	return p
}

// Run runs the bench. When ctx is cancelled (Ctrl-C) it stops publishing,
// still measures what happened, and returns the result with ctx's error.
func (b *Bench) Run(ctx context.Context) (*Result, error) {
	if b.cfg.Mode == Conn {
		return b.runConn(ctx)
	}
	// Cleanup and the final counts go on after Ctrl-C, within the
	// shutdown deadlines.
	var sessions []*session.Session
	defer func() { b.closeAll(ctx, sessions) }()

	subSessions, err := b.openSubscribers(ctx)
	sessions = append(sessions, subSessions...)
	if err != nil {
		return nil, err
	}
	pubSessions, err := b.openPublishers(ctx)
	sessions = append(sessions, pubSessions...)
	if err != nil {
		return nil, err
	}

	var start, pubEnd int64
	if b.cfg.Mode == Sub {
		start, pubEnd = b.awaitFirst(ctx)
	} else {
		start, pubEnd = b.publish(ctx)
		b.phase.Store("draining")
		b.drain(ctx)
	}
	b.phase.Store("closing")
	b.closeAll(ctx, sessions)
	sessions = nil
	res := b.result(start, pubEnd)
	return res, ctx.Err()
}

// openSubscribers connects the subscribers and subscribes them.
func (b *Bench) openSubscribers(ctx context.Context) ([]*session.Session, error) {
	if b.cfg.Mode == Pub {
		return nil, nil
	}
	filters, err := b.cfg.Filters()
	if err != nil {
		return nil, err
	}
	specs := make([]ClientSpec, len(b.subs))
	for j, s := range b.subs {
		specs[j] = ClientSpec{ClientID: b.cfg.clientID("s", b.cfg.subscriberID(j)), Handler: s.handle, Reconnect: true}
	}
	sessions, err := b.openAll(ctx, specs, 0, len(b.subs)+len(b.pubs))
	if err != nil {
		return sessions, err
	}
	subs := make([]session.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = session.Subscription{Filter: f, QoS: b.cfg.QoS}
	}
	batch := b.cfg.SubscribeBatch
	if batch <= 0 {
		batch = len(subs)
	}
	for j, s := range sessions {
		for lo := 0; lo < len(subs); lo += batch {
			if _, err := s.Subscribe(ctx, subs[lo:min(lo+batch, len(subs))]); err != nil {
				return sessions, fmt.Errorf("subscriber %s: %w", specs[j].ClientID, err)
			}
		}
	}
	return sessions, nil
}

// openPublishers connects the publishers and sizes their windows.
func (b *Bench) openPublishers(ctx context.Context) ([]*session.Session, error) {
	if b.cfg.Mode == Sub {
		return nil, nil
	}
	specs := make([]ClientSpec, b.cfg.Publishers)
	for j := range specs {
		specs[j] = ClientSpec{ClientID: b.cfg.clientID("p", b.cfg.publisherID(j)), Reconnect: true, TopicAlias: b.cfg.TopicAlias}
	}
	sessions, err := b.openAll(ctx, specs, len(b.subs), len(b.subs)+len(specs))
	if err != nil {
		return sessions, err
	}
	for j, s := range sessions {
		p := b.pubs[j]
		p.send, p.wire = s.Publish, s.Wire
		rm := int(s.Capabilities().ReceiveMaximum)
		if j == 0 {
			b.receiveMax.Store(int64(rm))
		}
		window := b.cfg.Inflight
		if window == 0 {
			window = rm
		}
		p.setWindow(window)
	}
	return sessions, nil
}

// publish runs the publishers (warm-up, then measured) and waits for
// their acknowledgements; it returns when measuring started and when
// publishing ended, Unix ns.
func (b *Bench) publish(ctx context.Context) (start, end int64) {
	now := b.clock.Now()
	start = now + int64(b.cfg.Warmup)
	var deadline int64
	if b.cfg.Duration > 0 {
		deadline = start + int64(b.cfg.Duration)
	}
	if b.cfg.Warmup > 0 {
		b.phase.Store("warm-up")
	} else {
		b.phase.Store("measuring")
		b.t0.Store(start)
	}
	var wg sync.WaitGroup
	var measuring sync.Once
	for _, p := range b.pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.cfg.Warmup > 0 {
				if err := p.run(ctx, now, start, 0, true); err != nil {
					p.err = err
					return
				}
				measuring.Do(func() { b.phase.Store("measuring"); b.t0.Store(start) })
			}
			p.err = p.run(ctx, start, deadline, uint64(b.cfg.Count), false)
		}()
	}
	wg.Wait()
	end = start
	for _, p := range b.pubs {
		end = max(end, p.end)
		if p.err != nil && ctx.Err() == nil {
			b.warn(fmt.Sprintf("publisher %d stopped: %v", p.id, p.err))
		}
	}
	b.phase.Store("acknowledging")
	// After Ctrl-C, acknowledgements are awaited within shutdown.Grace.
	sctx, cancel := shutdown.Context(ctx, 0, shutdown.Grace)
	for _, p := range b.pubs {
		wg.Add(1)
		go func() { defer wg.Done(); p.settle(sctx, b.cfg.AckTimeout) }()
	}
	wg.Wait()
	cancel()
	// Publishing ends when the last message was written (QoS 0) or
	// acknowledged, not when it was queued.
	for _, p := range b.pubs {
		p.mu.Lock()
		end = max(end, p.lastDone)
		p.mu.Unlock()
	}
	return start, end
}

// drain waits until every subscriber group has what was published, or
// receivers have been idle for Drain.
func (b *Bench) drain(ctx context.Context) {
	if len(b.subs) == 0 {
		return
	}
	var want uint64
	for _, p := range b.pubs {
		want += p.accepted()
	}
	want *= uint64(len(b.books))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last, idleSince := uint64(0), time.Now()
	for {
		var got uint64
		for _, s := range b.subs {
			got += s.received.Load()
		}
		if got >= want {
			return
		}
		if got != last {
			last, idleSince = got, time.Now()
		} else if time.Since(idleSince) >= b.cfg.Drain {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// awaitFirst is sub mode's measuring period: from the first message until
// every expected one arrived, Duration passed, or ctx ended.
func (b *Bench) awaitFirst(ctx context.Context) (start, end int64) {
	b.phase.Store("waiting for publishers")
	first := make(chan struct{})
	var once sync.Once
	for _, s := range b.subs {
		go func() {
			select {
			case <-s.arrived:
				once.Do(func() { close(first) })
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-first:
	case <-ctx.Done():
		return 0, 0
	}
	start = int64(1<<63 - 1)
	for _, s := range b.subs {
		if f := s.first.Load(); f > 0 {
			start = min(start, f)
		}
	}
	b.t0.Store(start)
	b.phase.Store("measuring")
	var want uint64
	if b.cfg.Count > 0 && b.cfg.Publishers > 0 {
		want = uint64(b.cfg.Count) * uint64(b.cfg.Publishers) * uint64(len(b.books))
	}
	var deadline <-chan time.Time
	if b.cfg.Duration > 0 {
		t := time.NewTimer(time.Duration(start + int64(b.cfg.Duration) - b.clock.Now()))
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if want > 0 {
			var got uint64
			for _, s := range b.subs {
				got += s.received.Load()
			}
			if got >= want {
				return start, b.lastArrival()
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			return start, start + int64(b.cfg.Duration)
		case <-ctx.Done():
			return start, b.lastArrival()
		}
	}
}

func (b *Bench) lastArrival() int64 {
	var last int64
	for _, s := range b.subs {
		last = max(last, s.last.Load())
	}
	return last
}
