package reliability

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// The tests below end `iotctl sub` (QoS 1 or 2, persistent session on
// mosquitto) by failing its output: a reader that closes the pipe after
// five lines (`| head -5`), SIGKILL while a slow reader lets the pipe fill
// (`| (sleep 4; cat > out)`), a full disk (`> /dev/full`). sub acknowledges
// a message only once its output accepted it, so no message is lost: each
// one is in what the output received before the failure or in what a
// restarted sub (same client ID) receives.

// subSession is a persistent session of `iotctl sub` on one topic.
type subSession struct {
	t     *testing.T
	m     *testpeer.Mosquitto
	id    string
	topic string
	qos   string
}

func (s subSession) args(extra ...string) []string {
	return append([]string{"--endpoint", s.m.URL(), "--client-id", s.id, "--clean-start=false", "--session-expiry", "1h",
		"sub", "-t", s.topic, "-q", s.qos}, extra...)
}

// create subscribes once and leaves, so what is published next is queued.
func (s subSession) create() {
	s.t.Helper()
	p := clitest.Start(s.t, clitest.Opts{Env: env(s.t), Args: s.args()})
	p.WaitStderr(s.t, "subscribed to "+s.topic, 30*time.Second)
	p.Signal(syscall.SIGINT)
	if code := p.Wait(s.t, 20*time.Second); code != 130 {
		s.t.Fatalf("creating the session: exit %d\n%s", code, clitest.Tail(p.Stderr.String(), 10))
	}
}

// publish sends n numbered lines of width bytes at the session's QoS.
func (s subSession) publish(n, width int) {
	s.t.Helper()
	r := clitest.Run(s.t, clitest.Opts{Env: env(s.t), Stdin: bytes.NewReader(padded(n, width)), Limit: 120 * time.Second, Args: []string{
		"--endpoint", s.m.URL(), "pub", "-t", s.topic, "-l", "-q", s.qos}})
	if r.Code != 0 {
		s.t.Fatalf("pub exit %d\n%s", r.Code, clitest.Tail(r.Stderr, 20))
	}
}

// collect restarts sub and waits until every line is in before or in what
// it prints; it returns the union (before's lines count as seen, the
// restart's repeats of them as duplicates).
func (s subSession) collect(n int, before *lineSet) *lineSet {
	s.t.Helper()
	all := newLineSet(n)
	for i := 0; i < n; i++ {
		if before.has(i) {
			all.add([]byte(strconv.Itoa(i)))
		}
	}
	p := clitest.Start(s.t, clitest.Opts{Env: env(s.t), Stdout: all, Args: s.args()})
	if !all.waitFor(n, 90*time.Second, p.Done()) {
		reportLoss(s.t, all, n)
		s.t.Fatalf("lost: %d of %d lines in the union; missing e.g. %v\nrestarted sub: %s", all.distinct(), n, all.missing(10), clitest.Tail(p.Stderr.String(), 20))
	}
	p.Signal(syscall.SIGINT)
	if code := p.Wait(s.t, 20*time.Second); code != 130 {
		s.t.Errorf("restarted sub: exit %d after SIGINT, want 130\n%s", code, clitest.Tail(p.Stderr.String(), 10))
	}
	return all
}

func startSubMosquitto(t *testing.T) *testpeer.Mosquitto {
	return testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
}

// `sub | head -5` on a backlog: the reader takes five lines and closes the
// pipe. The reader here is head with a perfect memory: before closing it
// stops sub (SIGSTOP) and reads everything the pipe holds, so it knows
// every line sub's writes delivered; then sub continues (SIGCONT), its
// next write fails with EPIPE, and it must exit 141 quietly without having
// acknowledged anything else.
func TestSubHeadClosesPipe(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGSTOP and SIGPIPE semantics are Unix")
	}
	const width = 40
	n := lines(t, "HEAD_LINES", 5000)
	m := startSubMosquitto(t)
	s := subSession{t: t, m: m, id: "rel-head-sub", topic: "rel/head", qos: "1"}
	s.create()
	s.publish(n, width)

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: pw, Args: s.args()})
	pw.Close()
	got := newLineSet(n)
	buf := make([]byte, 4096)
	for got.distinct() < 5 {
		k, err := pr.Read(buf)
		got.Write(buf[:k])
		if err != nil {
			t.Fatalf("reading sub's output: %v after %d lines\n%s", err, got.distinct(), clitest.Tail(sub.Stderr.String(), 10))
		}
	}
	if err := sub.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// sub cannot write now: what it wrote is in the pipe.
	for {
		pr.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, err := pr.Read(buf)
		got.Write(buf[:k])
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("draining the pipe: %v", err)
			}
			break
		}
	}
	pr.Close()
	written := got.distinct()
	sub.Signal(syscall.SIGCONT)
	code := sub.Wait(t, 30*time.Second)
	if code != 141 {
		t.Errorf("sub exit %d after the pipe closed, want 141\n%s", code, clitest.Tail(sub.Stderr.String(), 10))
	}
	if strings.Contains(sub.Stderr.String(), "iotctl: ") {
		t.Errorf("exit 141 should be quiet:\n%s", clitest.Tail(sub.Stderr.String(), 10))
	}
	all := s.collect(n, got)
	distinct, dups, bad := all.counts()
	t.Logf("head read %d lines (sub's writes delivered them all before the close); exit %d; the restarted sub completed the %d: %d distinct, %d duplicates", written, code, n, distinct, dups)
	if bad > 0 {
		t.Errorf("%d malformed lines", bad)
	}
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "fault", "head-5-closes-pipe", "written_before", written, "exit", code)
}

// `sub | (sleep 4; cat > out)` killed with SIGKILL: the reader does not
// read while pub sends n messages, so sub fills the pipe and blocks; sub is
// killed; the reader then reads what the pipe holds. sub must not have
// acknowledged what it had not written into the pipe.
func TestSubKilledWithSlowReader(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL of a pipeline is Unix")
	}
	for _, qos := range []string{"1", "2"} {
		t.Run("qos"+qos, func(t *testing.T) {
			const width = 40
			n := lines(t, "KILL_LINES", 30000)
			m := startSubMosquitto(t)
			s := subSession{t: t, m: m, id: "rel-kill-sub-" + qos, topic: "rel/kill/" + qos, qos: qos}
			s.create()

			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: pw, Args: s.args()})
			pw.Close()
			sub.WaitStderr(t, "subscribed to "+s.topic, 30*time.Second)
			s.publish(n, width)
			// All n are at the broker or beyond; the pipe (64 KiB of the
			// 1.2 MB) is full and sub blocked in a write, or close to it.
			if err := sub.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			sub.Wait(t, 10*time.Second)
			got := newLineSet(n)
			if _, err := io.Copy(got, pr); err != nil {
				t.Fatal(err)
			}
			written := got.distinct()
			all := s.collect(n, got)
			distinct, dups, bad := all.counts()
			t.Logf("QoS %s: the slow reader got %d lines from the pipe after SIGKILL; the restarted sub completed the %d: %d distinct, %d duplicates", qos, written, n, distinct, dups)
			if bad > 0 {
				t.Errorf("%d malformed lines", bad)
			}
			report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "fault", "sigkill-slow-reader-qos"+qos, "written_before", written)
		})
	}
}

var notWrittenRE = regexp.MustCompile(`iotctl: write the output: .*no space left on device: (\d+) messages? received but not written`)

// `sub > /dev/full`: every write fails with ENOSPC. sub exits 7 naming the
// count of messages received but not written, acknowledges none, and a
// restarted sub receives them all.
func TestSubDevFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	n := lines(t, "FULL_LINES", 200)
	m := startSubMosquitto(t)
	s := subSession{t: t, m: m, id: "rel-full-sub", topic: "rel/full", qos: "1"}
	s.create()
	s.publish(n, 0)
	sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: full, Args: s.args()})
	code := sub.Wait(t, 30*time.Second)
	stderr := sub.Stderr.String()
	if code != 7 {
		t.Errorf("exit %d, want 7\n%s", code, clitest.Tail(stderr, 10))
	}
	match := notWrittenRE.FindStringSubmatch(stderr)
	if match == nil {
		t.Fatalf("no count of messages not written on stderr:\n%s", clitest.Tail(stderr, 10))
	}
	reported, _ := strconv.Atoi(match[1])
	if reported < 1 || reported > n {
		t.Errorf("reported %d messages not written, want 1 to %d", reported, n)
	}
	all := s.collect(n, newLineSet(n))
	distinct, dups, _ := all.counts()
	t.Logf("exit %d; reported %d received but not written; the restarted sub got %d of %d (%d duplicates)", code, reported, distinct, n, dups)
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "fault", "dev-full", "reported_not_written", reported, "exit", code)
}
