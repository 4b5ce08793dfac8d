package pub

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/relay"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// The no-loss guarantees hold under MQTT 3.1.1: the relay cuts pub's
// connection again and again (Clean Session: every reconnect republishes
// what was unacknowledged), and mosquitto restarts under a kept session
// (--clean-start=false: session present, resent with DUP). A tenth of
// the MQTT 5 runs' lines.
func TestNoLossRelayCuts311(t *testing.T) {
	n := max(noLossLines(t)/10, 1)
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	got := newLineSet(n)
	subscriber(t, m.URL(), "noloss311-sub-a", "noloss", got)
	r := relay.Start(t, m.Addr())
	r.CutEvery(200*time.Millisecond, 500*time.Millisecond)
	done, stderr := runPubAsync(t, numberedLines(n), "--endpoint", r.URL(), "-V", "3.1.1")
	waitPub(t, done, stderr, 120*time.Second)
	r.Stop()
	checkAll(t, got, n, 30*time.Second)
	if !strings.Contains(m.Log(), "(p2, c1") {
		t.Errorf("pub did not connect with MQTT 3.1.1:\n%s", m.Log())
	}
}

func TestNoLossMosquittoRestarts311(t *testing.T) {
	n := max(noLossLines(t)/10, 1)
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Persistence: true, MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	got := newLineSet(n)
	subscriber(t, m.URL(), "noloss311-sub-b", "noloss", got)
	done, stderr := runPubAsync(t, numberedLines(n), "--endpoint", m.URL(), "-V", "3.1.1", "--client-id", "noloss311-pub", "--clean-start=false")
	for i, at := range []int{n / 4, n / 2} {
		if !got.waitFor(at, 60*time.Second) {
			t.Fatalf("restart %d: only %d lines arrived", i+1, got.count())
		}
		m.Restart()
		t.Logf("restarted mosquitto after %d lines", got.count())
	}
	waitPub(t, done, stderr, 120*time.Second)
	checkAll(t, got, n, 60*time.Second)
	if !strings.Contains(stderr.String(), "reconnected (session present: true)") {
		t.Errorf("pub never found its session kept:\n%s", stderr)
	}
	if !strings.Contains(m.Log(), "as noloss311-pub (p2, c0") {
		t.Errorf("pub did not connect with MQTT 3.1.1 and Clean Session 0:\n%s", m.Log())
	}
}

// mosquitto refuses a QoS 2 message over its max_inflight_messages (20)
// with PUBREC 0x97, which MQTT 3.1.1 cannot carry: the client sees success
// and the message is gone. Under 3.1.1, pub -q 2 keeps 20 in flight unless
// --inflight says otherwise, and every line arrives.
func TestQoS2Inflight311(t *testing.T) {
	const n = 500
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	got := newLineSet(n)
	subscriber(t, m.URL(), "qos2-311-sub", "noloss", got)
	o, stderr := pubOpts(t, bytes.NewReader(numberedLines(n)), "--endpoint", m.URL(), "-V", "3.1.1", "-v")
	o.Topic, o.Lines, o.QoS = "noloss", true, 2
	if err := pubRun(context.Background(), o); err != nil {
		t.Fatalf("pub: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "in flight at most 20") {
		t.Errorf("pub -q 2 under 3.1.1 did not keep 20 in flight:\n%s", stderr)
	}
	checkAll(t, got, n, 30*time.Second)
}
