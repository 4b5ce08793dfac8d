// Package watchdog fails a test that stops making progress, with a dump of
// every goroutine, so a deadlock shows where it is instead of timing out.
package watchdog

import (
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Start watches progress; when it has not moved for stall, the goroutines
// are dumped to stderr and the test fails. stop ends the watch (it may be
// called more than once).
func Start(t testing.TB, progress *atomic.Int64, stall time.Duration) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last, since := progress.Load(), time.Now()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if p := progress.Load(); p != last {
				last, since = p, time.Now()
				continue
			}
			if time.Since(since) > stall {
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
				t.Errorf("no progress for %s at %d: goroutines dumped above", stall, last)
				return
			}
		}
	}()
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}
