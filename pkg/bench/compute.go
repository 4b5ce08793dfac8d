package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// result adds up the clients' counters and histograms once they are all
// closed. start and end (Unix ns) bound the measured period.
func (b *Bench) result(start, end int64) *Result {
	c := &b.cfg
	r := &Result{
		Settings:        b.settings(),
		RefusedByReason: map[string]uint64{},
		Shards:          1,
		start:           time.Unix(0, start),
		end:             time.Unix(0, end),
	}
	if end > start {
		r.DurationS = float64(end-start) / 1e9
	}

	acks := make([]recorder, 0, len(b.pubs))
	// What each publisher got accepted: refused messages are not expected.
	accepted := map[uint32]uint64{}
	for _, p := range b.pubs {
		n := p.published.Load()
		r.Published += n
		r.BehindScheduleMaxUS = max(r.BehindScheduleMaxUS, p.behindMax/1000)
		pending := p.freeze()
		p.mu.Lock()
		r.Acknowledged += p.acked
		for code, k := range p.refused {
			r.Refused += k
			r.RefusedByReason[fmt.Sprintf("0x%02X", code)] += k
			n -= min(n, k)
		}
		accepted[p.id] = n
		if c.QoS > 0 {
			r.AckTimeouts += p.unacked + pending
		}
		p.mu.Unlock()
		if p.err != nil && !isCancel(p.err) {
			r.PublishErrors++
		}
		acks = append(acks, p.ack)
	}

	for _, bk := range b.books {
		b.count(r, bk, accepted)
	}
	e2e := make([]recorder, 0, len(b.subs))
	var last int64
	for _, s := range b.subs {
		r.Ignored += s.ignored.Load()
		last = max(last, s.last.Load())
		e2e = append(e2e, s.e2e)
	}

	if r.DurationS > 0 {
		r.PublishRate = float64(r.Published) / r.DurationS
	}
	if last > start && r.Received > 0 {
		r.ReceiveRate = float64(r.Received) / (float64(last-start) / 1e9)
	}
	var payloadBytes uint64
	for _, p := range b.pubs {
		payloadBytes += p.bytes
		if p.wire != nil {
			w := p.wire()
			r.Wire.Publishes += w.Publishes
			r.Wire.Bytes += w.PublishBytes
			r.Wire.FullBytes += w.FullBytes
		}
	}
	if r.DurationS > 0 {
		r.BytesPerSecond = float64(payloadBytes) / r.DurationS
	}
	if c.Mode == Sub {
		r.BytesPerSecond = r.ReceiveRate * float64(c.Size)
	}

	b.connMu.Lock()
	conn := mergeRecorders(b.connRec)
	b.connMu.Unlock()
	r.hists = map[string]*hdr.Histogram{
		EndToEnd:   mergeRecorders(e2e...),
		PublishAck: mergeRecorders(acks...),
		Connect:    conn,
	}
	r.LatencyUS = Latencies{
		EndToEnd:   summarize(r.hists[EndToEnd]),
		PublishAck: summarize(r.hists[PublishAck]),
		Connect:    summarize(r.hists[Connect]),
	}
	r.Connections = Connections{
		Opened:      uint64(b.connected.Load()),
		Failed:      b.failed.Load(),
		Reconnects:  b.reconnects.Load(),
		Disconnects: b.disconnects.Load(),
	}
	if c.Mode == Conn && r.DurationS > 0 {
		r.Connections.PerSecond = float64(r.Connections.Opened) / r.DurationS
	}
	return r
}

// count adds one receiver group's delivery counters. Roundtrip knows what
// each publisher got accepted (published minus refused); sub mode expects Count from each of Publishers when
// both are known, else only sees gaps below the highest number received.
func (b *Bench) count(r *Result, bk *book, published map[uint32]uint64) {
	c := &b.cfg
	runTag := RunTag(c.RunID)
	for _, t := range bk.trackers {
		r.Received += t.Unique()
		r.Duplicated += t.Duplicated()
		r.OutOfOrder += t.OutOfOrder()
	}
	if c.Mode != Sub {
		for id, n := range published {
			r.Expected += n
			if t := bk.trackers[bookKey(runTag, id)]; t != nil {
				r.Lost += t.Lost(n)
			} else {
				r.Lost += n
			}
		}
		return
	}
	perPub := uint64(c.Count)
	for _, t := range bk.trackers {
		r.Lost += t.Lost(perPub)
	}
	if perPub > 0 && c.Publishers > 0 {
		r.Expected += perPub * uint64(c.Publishers)
		if seen := len(bk.trackers); seen < c.Publishers {
			r.Lost += perPub * uint64(c.Publishers-seen)
		}
	}
}

func (b *Bench) settings() Settings {
	c := &b.cfg
	s := Settings{
		Mode:           string(c.Mode),
		Endpoint:       b.target.Endpoint,
		EmbeddedBroker: b.target.Embedded,
		Auth:           b.target.Auth,
		Limits:         b.target.Limits,
		Publishers:     c.Publishers,
		Subscribers:    c.Subscribers,
		Topic:          c.Topic,
		Shared:         c.Shared,
		QoS:            int(c.QoS),
		Size:           c.Size,
		Template:       c.TemplateText,
		TopicAlias:     c.TopicAlias,
		Rate:           c.Rate,
		DurationS:      c.Duration.Seconds(),
		Count:          c.Count,
		WarmupS:        c.Warmup.Seconds(),
		RampS:          c.Ramp.Seconds(),
		Inflight:       c.Inflight,
		ReceiveMaximum: int(b.receiveMax.Load()),
		RunID:          c.RunID,
		Shard:          c.Shard.String(),
		ClientIDPrefix: c.ClientIDPrefix,
	}
	switch c.Mode {
	case Pub, Conn:
		s.Subscribers = 0
	case Sub:
		s.Filters, _ = c.Filters()
	default:
		s.Filters, _ = c.Filters()
	}
	if c.Mode == Conn || c.Template != nil {
		s.Size = 0
	}
	if c.Mode == Conn {
		s.QoS = 0
	}
	return s
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
