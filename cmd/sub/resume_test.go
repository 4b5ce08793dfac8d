package sub

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
)

// TestSubResumeLargeBacklog: a resumed session's backlog (far more than
// -C and than our Receive Maximum; mosquitto 2.0.11 sends past it) arrives
// before the SUBACK; sub must end with -C messages, not wait for -W. (The
// stall this guards against was seen once under -race; this test has not
// been seen to reproduce it, and passes with and without the guard.)
func TestSubResumeLargeBacklog(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{MaxQueuedMessages: -1, Extra: "max_inflight_messages 0\n"})
	persist := []string{"-t", "backlog/#", "-q", "1", "--client-id", "iotctl-backlog-1", "--clean-start=false", "--session-expiry", "1h"}
	if _, stderr, code := runSub(t, m.URL(), append(persist, "-W", "500ms")...); code != 5 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	msgs := make([]*session.Message, 6000)
	for i := range msgs {
		msgs[i] = &session.Message{Topic: "backlog/x", Payload: []byte(fmt.Sprint(i)), QoS: 1}
	}
	publish(t, m.URL(), msgs...)

	start := time.Now()
	stdout, stderr, code := runSub(t, m.URL(), append(persist, "-C", "10", "-W", "25s")...)
	if code != 0 || strings.Count(stdout, "\n") != 10 {
		t.Fatalf("resumed run: exit %d after %s, %d lines; stderr %q", code, time.Since(start).Round(time.Millisecond), strings.Count(stdout, "\n"), stderr)
	}
	if !strings.HasPrefix(stdout, "0\n1\n2\n") {
		t.Errorf("resumed run printed %q, want the backlog in order from 0", stdout)
	}
}
