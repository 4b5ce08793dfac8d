// Package reliability injects faults around the built iotctl binary and
// in-process brokers: broker restarts and crashes, connections cut
// mid-packet, half-open connections, a slow consumer, refusals mid-stream,
// expiring credentials and signals. Each test counts what was sent and
// received and logs one "RELIABILITY key=value …" line that
// scripts/reliability-report.sh collects.
package reliability

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

// lines returns n from IOTCTL_RELIABILITY_<NAME> when set (for a quick
// run), else def.
func lines(t *testing.T, name string, def int) int {
	t.Helper()
	if v := os.Getenv("IOTCTL_RELIABILITY_" + name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("IOTCTL_RELIABILITY_%s=%q", name, v)
		}
		return n
	}
	return def
}

// numbered is the input of pub --lines: "0\n1\n…", one number per line.
func numbered(n int) []byte { return padded(n, 0) }

// padded is numbered with lines padded with " xxx…" to width bytes.
func padded(n, width int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		s := strconv.Itoa(i)
		b.WriteString(s)
		if pad := width - len(s); pad > 1 {
			b.WriteByte(' ')
			b.WriteString(strings.Repeat("x", pad-1))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// lineSet counts the numbered lines it sees (as an io.Writer of sub's
// stdout, or fed payloads): distinct ones and duplicates.
type lineSet struct {
	mu      sync.Mutex
	seen    []bool
	n       int // distinct
	dups    int
	bad     int // not a number in range
	partial []byte
	changed chan struct{}
}

func newLineSet(n int) *lineSet {
	return &lineSet{seen: make([]bool, n), changed: make(chan struct{})}
}

// Write takes raw output: lines, possibly split across writes.
func (s *lineSet) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := append(s.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		s.addLocked(data[:i])
		data = data[i+1:]
	}
	s.partial = append([]byte(nil), data...)
	s.notifyLocked()
	return len(p), nil
}

// add records one payload.
func (s *lineSet) add(payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(payload)
	s.notifyLocked()
}

func (s *lineSet) addLocked(line []byte) {
	if sp := bytes.IndexByte(line, ' '); sp >= 0 {
		line = line[:sp] // padding after the number
	}
	i, err := strconv.Atoi(string(line))
	if err != nil || i < 0 || i >= len(s.seen) {
		s.bad++
		return
	}
	if s.seen[i] {
		s.dups++
		return
	}
	s.seen[i] = true
	s.n++
}

func (s *lineSet) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// counts returns distinct, duplicates and malformed lines.
func (s *lineSet) counts() (distinct, dups, bad int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.dups, s.bad
}

func (s *lineSet) distinct() int { d, _, _ := s.counts(); return d }

// has reports whether line i was seen.
func (s *lineSet) has(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[i]
}

// waitFor waits until at least n distinct lines were seen, d passes or
// stop closes.
func (s *lineSet) waitFor(n int, d time.Duration, stop <-chan struct{}) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		got, ch := s.n, s.changed
		s.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return s.distinct() >= n
		case <-stop:
			return s.distinct() >= n
		}
	}
}

// missing lists up to k lines not seen.
func (s *lineSet) missing(k int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i, ok := range s.seen {
		if !ok {
			out = append(out, i)
			if len(out) == k {
				break
			}
		}
	}
	return out
}

// env is the binary's environment with IOTCTL_VERBOSE=1 (pub's summary,
// sub's connection log) and a private home.
func env(t *testing.T, extra ...string) []string {
	return clitest.Env(t.TempDir(), append([]string{"IOTCTL_VERBOSE=1"}, extra...)...)
}

// pubSummary is pub -v's last line: sent, acknowledged, refused, unacknowledged.
type pubSummary struct{ sent, acked, refused, unacked int }

var summaryRE = regexp.MustCompile(`sent (\d+), acknowledged (\d+), refused (\d+), unacknowledged (\d+)`)

func parseSummary(t *testing.T, stderr string) pubSummary {
	t.Helper()
	m := summaryRE.FindAllStringSubmatch(stderr, -1)
	if m == nil {
		t.Fatalf("no 'sent N, acknowledged N, …' line in pub's stderr:\n%s", clitest.Tail(stderr, 30))
	}
	last := m[len(m)-1]
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return pubSummary{n(last[1]), n(last[2]), n(last[3]), n(last[4])}
}

// count counts lines of stderr containing s.
func count(stderr, s string) int { return strings.Count(stderr, s) }

// startBroker starts an embedded broker on addr ("127.0.0.1:0" for any
// port) with hooks; it is closed when the test ends.
func startBroker(t *testing.T, addr string, hooks ...broker.Hook) *broker.Broker {
	t.Helper()
	b := testenv.StartBroker(t, broker.Options{Listen: addr, Home: t.TempDir(), Hooks: hooks})
	return b
}

// restartBroker starts a new broker on the address a crashed one had; the
// port may take a moment to be free again.
func restartBroker(t *testing.T, addr string, hooks ...broker.Hook) *broker.Broker {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := broker.New(broker.Options{Listen: addr, Home: t.TempDir(), Hooks: hooks})
		if err == nil {
			if err = b.Start(); err == nil {
				t.Cleanup(func() { b.Close() })
				return b
			}
			b.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart the broker on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hostPort(url string) string {
	_, hp, _ := strings.Cut(url, "://")
	return hp
}

// goSession is an in-process iotctl session (the library the binary uses),
// for observers the tests need besides the binary.
func goSession(t *testing.T, ctx context.Context, handler func(*session.Message) error, args ...string) *session.Session {
	t.Helper()
	st := testenv.Settings(t, args...)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Reconnect: true, Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// report logs the figures of one test for scripts/reliability-report.sh.
func report(t *testing.T, kv ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("RELIABILITY test=" + t.Name())
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	t.Log(b.String())
}

// vmStatus reads VmRSS and VmHWM (KiB) of a process.
func vmStatus(pid int) (rss, hwm int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v int
		if n, _ := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &v); n == 1 {
			rss = v
		}
		if n, _ := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &v); n == 1 {
			hwm = v
		}
	}
	return rss, hwm, sc.Err()
}

// reportLoss reports the figures of a test about to fail on lost messages,
// so the report counts them.
func reportLoss(t *testing.T, got *lineSet, n int) {
	t.Helper()
	distinct, dups, _ := got.counts()
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "failed", true)
}
