package reliability

import (
	"bytes"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// TestSubBacklogOnResume: a persistent session comes back to a backlog of
// 8,000 queued QoS 1 messages and sub -C 2000 must print 2,000 and exit 0
// promptly, with no data race, leaving the rest queued. (Found while
// writing TestNetworkCuts: mosquitto 2.0 sends a resumed session's backlog
// past the client's Receive Maximum, before the SUBACK.)
func TestSubBacklogOnResume(t *testing.T) {
	const backlog, take = 8000, 2000
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	args := func(more ...string) []string {
		return append([]string{"--endpoint", m.URL(), "--client-id", "rel-backlog", "--clean-start=false", "--session-expiry", "1h",
			"sub", "-t", "rel/backlog", "-q", "1"}, more...)
	}
	// Create the session and leave.
	r := clitest.Run(t, clitest.Opts{Env: env(t), Args: args("-W", "1s")})
	if r.Code != 5 {
		t.Fatalf("first sub: exit %d, want 5 (timed out)\n%s", r.Code, r.Stderr)
	}
	pr := clitest.Run(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(numbered(backlog)), Args: []string{
		"--endpoint", m.URL(), "pub", "-t", "rel/backlog", "-l", "-q", "1"}})
	if pr.Code != 0 {
		t.Fatalf("pub: exit %d\n%s", pr.Code, pr.Stderr)
	}
	got := newLineSet(backlog)
	sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: got, Args: args("-C", "2000", "-W", "30s")})
	code := sub.Wait(t, 40*time.Second)
	distinct, dups, _ := got.counts()
	t.Logf("sub -C %d on a backlog of %d: exit %d in %s, %d lines (%d duplicates)", take, backlog, code, sub.Elapsed().Round(time.Millisecond), distinct, dups)
	if code != 0 || distinct+dups != take {
		t.Errorf("exit %d with %d lines, want exit 0 with %d lines\nstderr:\n%s", code, distinct+dups, take, clitest.Tail(sub.Stderr.String(), 60))
	}
	report(t, "backlog", backlog, "taken", distinct, "duplicates", dups, "exit", code, "seconds", sub.Elapsed().Seconds())
}
