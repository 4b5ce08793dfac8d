package reliability

import (
	"bytes"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
)

// quotaHook accepts the first limit publishes on its topic and refuses the
// rest with reason code 0x97 (quota exceeded), as IoT Core does past a
// publish quota.
type quotaHook struct {
	broker.HookBase
	limit    int64
	accepted atomic.Int64
	refused  atomic.Int64
}

func (h *quotaHook) ID() string           { return "rel-quota" }
func (h *quotaHook) Provides(b byte) bool { return b == broker.OnPublish }
func (h *quotaHook) OnPublish(_ *broker.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.TopicName != "rel/quota" {
		return pk, nil
	}
	if h.accepted.Load() >= h.limit {
		h.refused.Add(1)
		return pk, packets.ErrQuotaExceeded
	}
	h.accepted.Add(1)
	return pk, nil
}

// TestRefusedMidStream: the broker starts refusing publishes with 0x97
// after 1,000 of 3,000 lines: pub keeps going, counts the refusals, exits
// 4, and its one error line names the reason code; its counts agree with
// the broker's. (With the IoT Core emulator's --publish-rate-limit, the
// same test applies once pkg/broker/iot lands.)
func TestRefusedMidStream(t *testing.T) {
	const n, limit = 3000, 1000
	h := &quotaHook{limit: limit}
	b := startBroker(t, "127.0.0.1:0", h)
	pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(numbered(n)), Args: []string{
		"--endpoint", b.URL("mqtt"), "pub", "-t", "rel/quota", "-l", "-q", "1", "-v"}})
	code := pub.Wait(t, 50*time.Second)
	stderr := pub.Stderr.String()
	if code != 4 {
		t.Fatalf("pub exit %d, want 4\n%s", code, clitest.Tail(stderr, 20))
	}
	var errLines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "iotctl: ") && !strings.HasPrefix(l, "iotctl: warning: ") {
			errLines = append(errLines, l)
		}
	}
	// -v also prints up to 10 refusals as they happen; the last line is
	// the verdict.
	last := errLines[len(errLines)-1]
	want := regexp.MustCompile(`^iotctl: 2000 of 3000 messages refused; the first: publish to rel/quota: quota exceeded \(0x97\)(: quota exceeded)?: a quota was exceeded: slow down`)
	if !want.MatchString(last) {
		t.Errorf("verdict %q does not match %q", last, want)
	}
	s := parseSummary(t, stderr)
	if s.sent != n || s.acked != int(h.accepted.Load()) || s.refused != int(h.refused.Load()) || s.unacked != 0 {
		t.Errorf("pub says %+v; the broker accepted %d and refused %d", s, h.accepted.Load(), h.refused.Load())
	}
	t.Logf("verdict: %s", last)
	report(t, "sent", n, "acked", s.acked, "refused", s.refused, "lost", 0, "fault", "puback-0x97-after-1000", "faults", 1, "exit", code)
}
