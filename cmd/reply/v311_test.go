package reply

import (
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
)

// Under MQTT 3.1.1 a request names no response topic: reply answers on
// its --response-topic with the bare output, req takes every message on
// its --response-topic for the answer and says so. mosquitto's log shows
// both spoke 3.1.1 (p2).
func TestRequestResponse311(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	startReply(t, m.URL(), "-V", "3.1.1", "-t", "svc/upper", "--response-topic", "svc/upper/answers", "--", "tr", "a-z", "A-Z")
	out, errOut, code := runReq(t, m.URL(), "-V", "3.1.1", "-t", "svc/upper", "--response-topic", "svc/upper/answers", "-m", "hello", "-q", "1")
	if code != 0 || out != "HELLO\n" {
		t.Fatalf("req: exit %d, %q, %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "MQTT 3.1.1: every message on svc/upper/answers is taken for a response") {
		t.Errorf("req said nothing of matching by topic: %q", errOut)
	}
	if log := m.Log(); strings.Count(log, "(p2, c1") != 2 || strings.Contains(log, "(p5,") {
		t.Errorf("mosquitto did not see two 3.1.1 clients:\n%s", log)
	}
}
