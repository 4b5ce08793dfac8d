package reliability

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
	"go.uber.org/goleak"
)

// TestSlowConsumer: iotctl sub writes into a pipe whose reader takes 100
// messages a second while pub --lines -q 1 sends 50,000 messages of 100
// bytes as fast as it can. At 100 msg/s the whole run would take 500 s, so
// the slow reader runs for a bounded window (8 s), which is enough to fill
// every buffer between the reader and the broker; then it drains as fast
// as it can. Checked: sub's memory stays bounded (VmHWM from
// /proc/<pid>/status, sampled every 100 ms), the broker holds the backlog
// (mosquitto's $SYS stored-message count, watched by an in-process iotctl
// session, stays high during the window), nothing is lost, sub -C exits 0.
func TestSlowConsumer(t *testing.T) {
	leakOpts := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpts) })
	const width = 100
	n := lines(t, "SLOW_LINES", 50000)
	window := 8 * time.Second
	limitMiB := 64
	if clitest.Race {
		// The race detector's shadow memory multiplies a Go program's
		// footprint (5-10x, says the Go documentation).
		limitMiB = 256
	}
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1, Extra: "sys_interval 1"})

	// Watch the broker's stored-message count (in-process session: goleak
	// checks it leaves no goroutine behind).
	var storedMu sync.Mutex
	var stored []int
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := goSession(t, ctx, func(msg *session.Message) error {
		if v, err := strconv.Atoi(string(msg.Payload)); err == nil {
			storedMu.Lock()
			stored = append(stored, v)
			storedMu.Unlock()
		}
		return nil
	}, "--endpoint", m.URL())
	if _, err := watch.Subscribe(ctx, []session.Subscription{{Filter: "$SYS/broker/store/messages/count"}}); err != nil {
		t.Fatal(err)
	}
	storedMax := func() int {
		storedMu.Lock()
		defer storedMu.Unlock()
		mx := 0
		for _, v := range stored {
			mx = max(mx, v)
		}
		return mx
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: pw, Args: []string{
		"--endpoint", m.URL(), "--client-id", "rel-slow-sub", "sub", "-t", "rel/slow", "-q", "1", "-C", strconv.Itoa(n)}})
	pw.Close()
	sub.WaitStderr(t, "subscribed to rel/slow", 30*time.Second)

	// Sample sub's memory until it exits.
	var hwmKiB, rssMaxKiB int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, hwm, err := vmStatus(sub.Pid()); err == nil {
				hwmKiB, rssMaxKiB = max(hwmKiB, hwm), max(rssMaxKiB, rss)
			}
			select {
			case <-tick.C:
			case <-sub.Done():
				return
			}
		}
	}()

	got := newLineSet(n)
	slowRead := 0
	readDone := make(chan error, 1)
	slowDone := make(chan struct{})
	go func() {
		br := bufio.NewReaderSize(pr, 16)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		end := time.Now().Add(window)
		for time.Now().Before(end) {
			<-tick.C
			line, err := br.ReadBytes('\n')
			if err != nil {
				readDone <- err
				return
			}
			got.add(bytes.TrimSuffix(line, []byte("\n")))
			slowRead++
		}
		close(slowDone)
		_, err := io.Copy(got, br)
		readDone <- err
	}()

	start := time.Now()
	pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(padded(n, width)), Args: []string{
		"--endpoint", m.URL(), "pub", "-t", "rel/slow", "-l", "-q", "1", "-v"}})
	if code := pub.Wait(t, 55*time.Second); code != 0 {
		t.Fatalf("pub exit %d\n%s", code, clitest.Tail(pub.Stderr.String(), 20))
	}
	pubTook := time.Since(start)
	<-slowDone
	backlog := storedMax()
	if code := sub.Wait(t, 55*time.Second); code != 0 {
		t.Fatalf("sub exit %d\n%s", code, clitest.Tail(sub.Stderr.String(), 20))
	}
	if err := <-readDone; err != nil {
		t.Fatalf("reading sub's output: %v", err)
	}
	pr.Close()
	<-sampled
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	watch.Close(cctx, 0)
	ccancel()

	distinct, dups, bad := got.counts()
	t.Logf("pub sent %d x %d bytes in %s; the reader took %d lines in the %s window at 100/s; broker's stored count peaked at %d during it; sub VmHWM %.1f MiB (max VmRSS %.1f MiB, limit %d MiB, race %t); received %d distinct, %d duplicates, %d malformed; total %s",
		n, width, pubTook.Round(time.Millisecond), slowRead, window, backlog, float64(hwmKiB)/1024, float64(rssMaxKiB)/1024, limitMiB, clitest.Race, distinct, dups, bad, time.Since(start).Round(time.Millisecond))
	if distinct != n || bad != 0 {
		t.Errorf("lost lines: %d of %d; missing e.g. %v", distinct, n, got.missing(10))
	}
	if hwmKiB == 0 || hwmKiB > limitMiB*1024 {
		t.Errorf("sub's VmHWM %d KiB, want under %d MiB", hwmKiB, limitMiB)
	}
	// Buffers between the reader and the broker (pipe 64 KiB, sub's 64 KiB
	// writer, its queue and inbox, the 1,024 in flight) hold a few thousand
	// 100-byte messages: the rest must still be at the broker.
	if backlog < n/2 {
		t.Errorf("the broker held at most %d messages while the reader was slow: flow control did not hold it back (want at least %d)", backlog, n/2)
	}
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "fault", "slow-reader-100-per-s", "window_s", window.Seconds(), "slow_read", slowRead, "broker_backlog", backlog, "vmhwm_mib", float64(hwmKiB)/1024, "limit_mib", limitMiB, "race", clitest.Race)
}
