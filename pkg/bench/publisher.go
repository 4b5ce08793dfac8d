package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotctl/iotctl/pkg/payload"
	"github.com/iotctl/iotctl/pkg/session"
)

// sendFunc is (*session.Session).Publish; tests pass their own.
type sendFunc func(ctx context.Context, m *session.Message, done func(error)) error

// publisher sends one client's messages. The publishing goroutine owns the
// fields above mu; acknowledgement callbacks own the ones under it. The lock
// is the publisher's own, so it is uncontended: callbacks of one connection
// arrive one at a time.
type publisher struct {
	id         uint32
	runTag     uint32
	qos        byte
	topic      string
	size       int
	clock      clock
	send       sendFunc
	wire       func() session.WireStats // the session's; nil in tests without one
	clientID   string
	tmpl       *payload.Template // payload after the header; nil: zeros up to size
	bytes      uint64            // payload bytes of counted messages
	interval   float64           // ns between this publisher's messages; 0: closed loop
	phase      int64             // offset of its slots, so publishers interleave
	window     chan struct{}     // caps messages in flight; nil at QoS 0
	ackTimeout time.Duration
	pool       sync.Pool

	seq       uint64
	behindMax int64
	end       int64 // when the measured loop ended (open loop: its schedule)
	err       error // why it stopped early
	published atomic.Uint64
	sending   atomic.Int64 // handed to the session, done not called yet

	mu        sync.Mutex
	settled   bool // results taken: late callbacks are ignored
	ack       recorder
	acked     uint64
	refused   map[byte]uint64
	unacked   uint64 // done with an error other than a refusal
	pending   uint64 // callbacks missing when frozen
	lastDone  int64  // latest callback of a counted message, Unix ns
	quiet     chan struct{}
	quietWant bool
}

// outbound is one message and its callback, reused once done.
type outbound struct {
	msg   session.Message
	p     *publisher
	start int64
	warm  bool
	cb    func(error)
}

func newPublisher(cfg *Config, j int, clk clock, send sendFunc) *publisher {
	id := cfg.publisherID(j)
	p := &publisher{
		id:         uint32(id),
		runTag:     RunTag(cfg.RunID),
		qos:        cfg.QoS,
		topic:      cfg.TopicFor(id),
		size:       cfg.Size,
		clientID:   cfg.clientID("p", id),
		tmpl:       cfg.Template,
		clock:      clk,
		send:       send,
		ack:        newRecorder(),
		refused:    map[byte]uint64{},
		ackTimeout: cfg.AckTimeout,
	}
	if cfg.Rate > 0 {
		// Publishers share the rate; publisher j's slots are shifted by j
		// total-rate intervals, so together they are evenly spaced.
		p.interval = float64(cfg.Publishers) * 1e9 / cfg.Rate
		p.phase = int64(float64(j) * 1e9 / cfg.Rate)
	}
	p.pool.New = func() any {
		o := &outbound{p: p, msg: session.Message{Topic: p.topic, QoS: p.qos, Payload: make([]byte, max(p.size, HeaderSize))}}
		o.cb = o.done
		return o
	}
	return p
}

// setWindow caps the messages in flight (QoS>0).
func (p *publisher) setWindow(n int) {
	if p.qos > 0 && n > 0 {
		p.window = make(chan struct{}, n)
	}
}

// run publishes from start: until deadline (Unix ns) when it is set, else
// count messages. Warm-up messages are flagged and not counted.
func (p *publisher) run(ctx context.Context, start, deadline int64, count uint64, warm bool) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var seq uint64
	for k := uint64(0); count == 0 || k < count; k++ {
		intended := int64(0)
		if p.interval > 0 {
			intended = start + p.phase + int64(float64(k)*p.interval)
			if deadline > 0 && intended >= deadline {
				break
			}
			if err := p.clock.SleepUntil(ctx, timer, intended); err != nil {
				return err
			}
		} else if deadline > 0 && p.clock.Now() >= deadline {
			break
		}
		if p.window != nil {
			select {
			case p.window <- struct{}{}:
			default:
				if err := p.waitWindow(ctx, timer); err != nil {
					return err
				}
			}
		}
		now := p.clock.Now()
		if p.interval == 0 {
			intended = now
		} else if behind := now - intended; !warm && behind > p.behindMax {
			p.behindMax = behind
		}
		o := p.pool.Get().(*outbound)
		o.start, o.warm = intended, warm
		h := Header{Warmup: warm, RunTag: p.runTag, Publisher: p.id, Seq: p.seq, Time: intended}
		if warm {
			h.Seq = seq
		}
		if p.tmpl != nil {
			body, err := p.tmpl.Render(o.msg.Payload[:HeaderSize], payload.Data{Count: int(h.Seq) + 1, Time: payload.Time{Time: time.Now()}, ClientID: p.clientID, Topic: p.topic})
			if err != nil {
				p.release()
				p.pool.Put(o)
				return err
			}
			o.msg.Payload = body
		}
		h.Put(o.msg.Payload)
		size := len(o.msg.Payload)
		p.sending.Add(1)
		if err := p.send(ctx, &o.msg, o.cb); err != nil {
			p.sending.Add(-1)
			p.release()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if warm {
			seq++
		} else {
			p.seq++
			p.published.Add(1)
			p.bytes += uint64(size)
		}
	}
	if !warm {
		// An open-loop schedule ends with its last slot, not its last send.
		p.end = p.clock.Now()
		switch {
		case p.interval > 0 && deadline > 0:
			p.end = max(p.end, deadline)
		case p.interval > 0:
			p.end = max(p.end, start+int64(float64(count)*p.interval))
		}
	}
	return nil
}

// waitWindow waits for a slot in the window, at most ackTimeout: a broker
// that stops acknowledging ends this publisher instead of the whole run.
func (p *publisher) waitWindow(ctx context.Context, timer *time.Timer) error {
	timer.Reset(p.ackTimeout)
	defer timer.Stop()
	select {
	case p.window <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("no acknowledgement for %s with %d messages in flight: counted as ack timeouts", p.ackTimeout, cap(p.window))
	}
}

// done is the session's callback for one message.
func (o *outbound) done(err error) {
	p := o.p
	now := p.clock.Now()
	p.mu.Lock()
	if !o.warm && !p.settled {
		p.lastDone = now
		var re *session.ReasonError
		switch {
		case err == nil:
			if p.qos > 0 {
				p.acked++
				p.ack.record(now - o.start)
			}
		case errors.As(err, &re):
			p.refused[re.Code]++
		default:
			p.unacked++
		}
	}
	quiet := p.sending.Add(-1) == 0 && p.quietWant
	if quiet {
		p.quietWant = false
		close(p.quiet)
	}
	p.mu.Unlock()
	p.release()
	p.pool.Put(o)
}

func (p *publisher) release() {
	if p.window != nil {
		<-p.window
	}
}

// settle waits up to timeout for every callback, then freezes the counts
// (freeze).
func (p *publisher) settle(ctx context.Context, timeout time.Duration) {
	p.mu.Lock()
	if !p.settled && p.sending.Load() > 0 {
		p.quiet, p.quietWant = make(chan struct{}), true
		ch := p.quiet
		p.mu.Unlock()
		t := time.NewTimer(timeout)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		p.mu.Lock()
	}
	p.freezeLocked()
	p.mu.Unlock()
}

// freeze stops counting: the messages still unacknowledged are returned
// (every time), and later callbacks are ignored.
func (p *publisher) freeze() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.freezeLocked()
}

func (p *publisher) freezeLocked() uint64 {
	if !p.settled {
		p.settled = true
		p.quietWant = false
		p.pending = uint64(max(p.sending.Load(), 0))
	}
	return p.pending
}

// accepted is what the broker did not refuse so far.
func (p *publisher) accepted() uint64 {
	n := p.published.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.refused {
		n -= min(n, k)
	}
	return n
}
