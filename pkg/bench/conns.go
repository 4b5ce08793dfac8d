package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/session"
)

// connectParallel bounds connection attempts in flight, so a thousand
// clients without --ramp do not all handshake at once.
const connectParallel = 64

// openAll connects specs, spread over Ramp: spec k is connection offset+k
// of total. Outside conn mode the first failure cancels the others and is
// returned; the sessions opened so far are returned for closing.
func (b *Bench) openAll(ctx context.Context, specs []ClientSpec, offset, total int) ([]*session.Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now := b.clock.Now()
	if b.rampStart == 0 {
		b.rampStart = now
	}
	out := make([]*session.Session, len(specs))
	failures := make([]error, len(specs))
	sem := make(chan struct{}, connectParallel)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var wg sync.WaitGroup
	for k := range specs {
		if b.cfg.Ramp > 0 {
			at := b.rampStart + int64(b.cfg.Ramp)*int64(offset+k)/int64(max(total, 1))
			if b.clock.SleepUntil(ctx, timer, at) != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[k], failures[k] = b.open(ctx, specs[k])
			if failures[k] != nil && b.cfg.Mode != Conn {
				cancel()
			}
		}()
	}
	wg.Wait()
	var opened []*session.Session
	for _, s := range out {
		if s != nil {
			opened = append(opened, s)
		}
	}
	for _, err := range failures {
		// A cancellation caused by another client's failure is not the news.
		if err != nil && !errors.Is(err, context.Canceled) {
			return opened, err
		}
	}
	if err := ctx.Err(); err != nil && b.cfg.Mode != Conn {
		return opened, err
	}
	if len(opened) != len(specs) && b.cfg.Mode != Conn {
		return opened, context.Canceled
	}
	return opened, nil
}

// open connects one client, counting and timing it.
func (b *Bench) open(ctx context.Context, spec ClientSpec) (*session.Session, error) {
	var ups atomic.Int32
	spec.OnConnect = func(session.Capabilities) {
		if ups.Add(1) > 1 && !b.closing.Load() {
			b.reconnects.Add(1)
			b.warn(fmt.Sprintf("client %s reconnected", spec.ClientID))
		}
	}
	t := b.clock.Now()
	s, err := b.dial(ctx, spec)
	if err != nil {
		if ctx.Err() == nil {
			b.failed.Add(1)
		}
		return nil, fmt.Errorf("connect client %s: %w", spec.ClientID, err)
	}
	lat := int64(s.Capabilities().ConnectLatency)
	if lat <= 0 {
		lat = b.clock.Now() - t
	}
	b.connMu.Lock()
	b.connRec.record(lat)
	b.connMu.Unlock()
	b.connected.Add(1)
	go func() {
		<-s.Done()
		if !b.closing.Load() {
			b.disconnects.Add(1)
			b.warn(fmt.Sprintf("client %s: connection ended: %v", spec.ClientID, s.Err()))
		}
	}()
	return s, nil
}

// closeAll disconnects sessions in parallel, each within a few seconds,
// all by shutdown.Budget after Ctrl-C (ctx cancelled).
func (b *Bench) closeAll(ctx context.Context, sessions []*session.Session) {
	b.closing.Store(true)
	if len(sessions) == 0 {
		return
	}
	ctx, cancelAll := shutdown.Context(ctx, 0, shutdown.Budget)
	defer cancelAll()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, s := range sessions {
		if s == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = s.Close(cctx, 0)
		}()
	}
	wg.Wait()
}

// runConn opens Publishers connections (over Ramp), keeps them all open
// until the last one is up, and measures connection set-up.
func (b *Bench) runConn(ctx context.Context) (*Result, error) {
	specs := make([]ClientSpec, b.cfg.Publishers)
	for j := range specs {
		specs[j] = ClientSpec{ClientID: b.cfg.clientID("c", b.cfg.publisherID(j))}
	}
	start := b.clock.Now()
	b.t0.Store(start)
	b.phase.Store("connecting")
	sessions, err := b.openAll(ctx, specs, 0, len(specs))
	end := b.clock.Now()
	b.phase.Store("closing")
	b.closeAll(ctx, sessions)
	res := b.result(start, end)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.Connections.Opened == 0 && err != nil {
		return res, err
	}
	if err != nil {
		b.warn(fmt.Sprintf("%d of %d connections failed; the first: %v", res.Connections.Failed, len(specs), err))
	}
	return res, nil
}
