package sub

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
)

// -T skips matching topics (acknowledged, not printed, not counted by -C),
// as mosquitto_sub -T does.
func TestFilterOut(t *testing.T) {
	ep := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, ep, "-t", "s/#", "-T", "s/+/debug", "-T", "s/x/#", "-q", "1", "-C", "2", "-v")
	p.waitSubscribed(t)
	var msgs []*session.Message
	for _, topic := range []string{"s/a/debug", "s/x", "s/x/y/z", "s/a/temp", "s/b/debug", "s/b/temp"} {
		msgs = append(msgs, &session.Message{Topic: topic, Payload: []byte("p"), QoS: 1})
	}
	publish(t, ep, msgs...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, p.err, p.errOut.String())
	}
	if got, want := p.out.String(), "s/a/temp p\ns/b/temp p\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestFilterOutChecked(t *testing.T) {
	for _, args := range [][]string{
		{"-t", "a", "-T", "a/#/b"},
		{"-t", "a", "-T", "$share/g/a"},
		{"-U", "a/#/b"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p := startSub(t, ctx, "127.0.0.1:1", args...)
		if code := p.wait(t); code != 2 || strings.Contains(p.err.Error(), "\n") {
			t.Errorf("sub %v: exit %d, error %q; want exit 2 and one line", args, code, p.err)
		}
		cancel()
	}
}

// -U removes a kept session's subscription (mosquitto_sub -U), alone or
// before -t; checked against mosquitto, whose session keeps the
// subscriptions.
func TestUnsubscribeKeptSession(t *testing.T) {
	m := startMosquitto(t, testpeer.MosquittoConfig{})
	ep := m.URL()
	keep := []string{"--client-id", "keeper", "--clean-start=false", "--session-expiry", "1h", "-q", "1"}
	// Make the session with two subscriptions.
	if _, errOut, code := runSub(t, ep, append([]string{"-t", "k/a", "-t", "k/b", "-W", "1s"}, keep...)...); code != 5 {
		t.Fatalf("first run: exit %d: %s", code, errOut)
	}
	// Alone: unsubscribe from k/a and exit 0 at once.
	if _, errOut, code := runSub(t, ep, append([]string{"-U", "k/a"}, keep...)...); code != 0 {
		t.Fatalf("-U alone: exit %d: %s", code, errOut)
	}
	// Messages published while away: only k/b's is kept for the session.
	mosq(t, m, "mosquitto_pub", "-q", "1", "-t", "k/a", "-m", "to-a")
	mosq(t, m, "mosquitto_pub", "-q", "1", "-t", "k/b", "-m", "to-b")
	out, errOut, code := runSub(t, ep, append([]string{"-t", "k/c", "-C", "1", "-W", "20s", "-v"}, keep...)...)
	if code != 0 || out != "k/b to-b\n" {
		t.Fatalf("resumed: exit %d, output %q, stderr %s", code, out, errOut)
	}
}
