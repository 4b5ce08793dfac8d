package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/session"
)

// fakeClock moves only when told: sleeping jumps to the wake-up time.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) Now() int64              { return c.now.Load() }
func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }
func (c *fakeClock) SleepUntil(ctx context.Context, _ *time.Timer, t int64) error {
	if t > c.now.Load() {
		c.now.Store(t)
	}
	return ctx.Err()
}

// A publisher at 1000 msgs/s stalls 50 ms on message 10. Measured from the
// intended send times, the messages it sends late carry the stall in their
// latency; measured from the actual send times (coordinated omission) they
// would look like 100 µs.
func TestCoordinatedOmission(t *testing.T) {
	clk := &fakeClock{}
	clk.now.Store(1_000_000_000)
	const transit = 100 * time.Microsecond
	cfg := Config{Mode: Roundtrip, Publishers: 1, Subscribers: 1, QoS: 1, Size: HeaderSize, Rate: 1000, Count: 100, RunID: "co"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(clk, RunTag("co"), false, newBook(false))
	sent := 0
	send := func(_ context.Context, m *session.Message, done func(error)) error {
		if sent == 10 {
			clk.advance(50 * time.Millisecond) // the broker stalls
		}
		sent++
		clk.advance(transit)
		if err := sub.handle(&session.Message{Topic: m.Topic, Payload: append([]byte(nil), m.Payload...)}); err != nil {
			return err
		}
		done(nil)
		return nil
	}
	p := newPublisher(&cfg, 0, clk, send)
	p.setWindow(10)
	start := clk.Now()
	if err := p.run(context.Background(), start, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	e2e := summarize(mergeRecorders(sub.e2e))
	ack := summarize(mergeRecorders(p.ack))

	if e2e.Count != 100 || ack.Count != 100 {
		t.Fatalf("counts %d, %d; want 100", e2e.Count, ack.Count)
	}
	// Message 10: 50 ms + transit. Messages 11… were due every 1 ms but go
	// out back to back 100 µs apart, each 0.9 ms less late, until ~66.
	if e2e.Max < 50_000 || e2e.Max > 50_200 {
		t.Errorf("max %d µs, want ≈ 50 100", e2e.Max)
	}
	if e2e.P50 < 5_000 {
		t.Errorf("p50 %d µs: the late messages' wait is missing (coordinated omission)", e2e.P50)
	}
	if e2e.P90 < 30_000 {
		t.Errorf("p90 %d µs, want > 30 000", e2e.P90)
	}
	if behind := p.behindMax / 1000; behind < 49_000 || behind > 49_200 {
		t.Errorf("behind schedule max %d µs, want ≈ 49 100", behind)
	}
	// The schedule ends at start + 100 ms however late the last send was.
	if p.end < start+int64(100*time.Millisecond) {
		t.Errorf("end %d ns after start, want ≥ 100 ms", p.end-start)
	}
	// About 56 messages (10 to ~65) waited more than 1 ms; measured from
	// their actual send times only message 10 would have.
	var late int64
	for _, bar := range mergeRecorders(sub.e2e).Distribution() {
		if bar.From > 1000 {
			late += bar.Count
		}
	}
	if late < 50 || late > 60 {
		t.Errorf("%d messages over 1 ms, want ≈ 56", late)
	}
}
