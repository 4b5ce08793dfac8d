package sub

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
)

// TestSubscriptionIDsNameTheFilter: with -F json, subscription_ids says
// which -t matched, on a broker that offers subscription identifiers.
func TestSubscriptionIDsNameTheFilter(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, m.URL(), "-t", "ids/a", "-t", "ids/+", "-q", "1", "-F", "json", "-C", "2")
	p.waitSubscribed(t)
	publish(t, m.URL(), &session.Message{Topic: "ids/b", Payload: []byte("b"), QoS: 1}, &session.Message{Topic: "ids/a", Payload: []byte("a"), QoS: 1})
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, p.errOut.String())
	}
	got := map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(p.out.String()), "\n") {
		var j JSONMessage
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if j.Properties != nil {
			got[j.Topic] = j.Properties.SubscriptionIDs
		}
	}
	// ids/a matches both filters: mosquitto delivers it once per matching
	// subscription or once with both identifiers; ids/b only the second.
	if ids := got["ids/b"]; len(ids) != 1 || ids[0] != 2 {
		t.Errorf("ids/b: subscription_ids %v, want [2]", ids)
	}
	if ids := got["ids/a"]; len(ids) == 0 || (ids[0] != 1 && ids[0] != 2) {
		t.Errorf("ids/a: subscription_ids %v, want 1 or 2", ids)
	}
}
