package reliability

import (
	"bytes"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/relay"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// TestNetworkCuts: pub --lines at QoS 1 and sub at QoS 1 each reach
// mosquitto through a relay that cuts every connection at random points
// (mid-packet included) every 200-500 ms; pub is paced at 3,000 msg/s so
// the run lasts about 10 s and takes a few dozen cuts. Nothing is lost; pub exits 0;
// sub -C N exits 0. Duplicates count towards -C, so when sub stops with
// some lines still owed, sub runs again on the same persistent session
// until the rest arrives (then SIGINT, exit 130): the broker kept them.
//
// It runs under MQTT 5 and MQTT 3.1.1 (see protocols).
func TestNetworkCuts(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) { testNetworkCuts(t, p) })
	}
}

func testNetworkCuts(t *testing.T, proto protocol) {
	n := lines(t, "CUT_LINES", 30000)
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	subRelay := relay.Start(t, m.Addr())
	pubRelay := relay.Start(t, m.Addr())
	got := newLineSet(n)
	subArgs := func(c int) []string {
		return proto.args("--endpoint", subRelay.URL(), "--client-id", "rel-cut-sub", proto.persistent,
			"sub", "-t", "rel/cut", "-q", "1", "-C", strconv.Itoa(c))
	}
	sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: got, Args: subArgs(n)})
	sub.WaitStderr(t, "subscribed to rel/cut", 30*time.Second)
	subRelay.CutEvery(200*time.Millisecond, 500*time.Millisecond)
	pubRelay.CutEvery(200*time.Millisecond, 500*time.Millisecond)

	start := time.Now()
	pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(numbered(n)), Args: proto.args(
		"--endpoint", pubRelay.URL(), "--client-id", "rel-cut-pub", "pub", "-t", "rel/cut", "-l", "-q", "1", "-v", "--rate", "3000")})
	if code := pub.Wait(t, 55*time.Second); code != 0 {
		t.Fatalf("pub exit %d, want 0\n%s", code, clitest.Tail(pub.Stderr.String(), 20))
	}
	pubCuts := pubRelay.Cuts()
	pubRelay.Stop()
	if code := sub.Wait(t, 40*time.Second); code != 0 {
		t.Fatalf("sub -C %d exit %d, want 0\n%s", n, code, clitest.Tail(sub.Stderr.String(), 20))
	}
	subCuts := subRelay.Cuts()
	subRelay.Stop()
	runs := 1
	if got.distinct() < n {
		// Without -C: a sub that stops at -C while the broker pushes a
		// backlog can hang in SUBSCRIBE (see TestSubBacklogOnResume).
		distinct, dups, _ := got.counts()
		t.Logf("sub -C %d ended with %d distinct lines and %d duplicates: running again on the same session until the rest arrives", n, distinct, dups)
		again := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: got, Args: proto.args(
			"--endpoint", m.URL(), "--client-id", "rel-cut-sub", proto.persistent,
			"sub", "-t", "rel/cut", "-q", "1")})
		if !got.waitFor(n, 30*time.Second, again.Done()) {
			reportLoss(t, got, n)
			t.Fatalf("lost lines: %d of %d arrived; missing e.g. %v\n%s", got.distinct(), n, got.missing(10), clitest.Tail(again.Stderr.String(), 20))
		}
		again.Signal(syscall.SIGINT)
		if code := again.Wait(t, 20*time.Second); code != 130 {
			t.Errorf("second sub: exit %d after SIGINT, want 130\n%s", code, clitest.Tail(again.Stderr.String(), 20))
		}
		runs++
	}
	distinct, dups, bad := got.counts()
	if distinct != n || bad != 0 {
		reportLoss(t, got, n)
		t.Fatalf("lost lines: %d of %d arrived (%d malformed); missing e.g. %v", distinct, n, bad, got.missing(10))
	}
	s := parseSummary(t, pub.Stderr.String())
	t.Logf("pub: %+v, %d cuts, %d reconnects; sub: %d cuts, %d reconnects, %d run(s)", s, pubCuts, count(pub.Stderr.String(), "reconnected"), subCuts, count(sub.Stderr.String(), "reconnected"), runs)
	if pubCuts < 2 || subCuts < 2 {
		t.Errorf("only %d and %d cuts: the run was too short to test anything", pubCuts, subCuts)
	}
	proto.check(t, m, "rel-cut-sub", "rel-cut-pub")
	report(t, "mqtt", proto.version, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", pubCuts+subCuts, "fault", "relay-cut-every-200-500ms", "sub_runs", runs, "seconds", int(time.Since(start).Seconds()))
}
