package bench

import (
	"fmt"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
)

// checkExact asserts a loss-free run: every message published once and
// received once by each subscriber (or once by the group when shared).
func checkExact(t *testing.T, res *Result, cfg Config) {
	t.Helper()
	n := uint64(cfg.Publishers * cfg.Count)
	groups := uint64(cfg.Subscribers)
	if cfg.Shared != "" {
		groups = 1
	}
	want := n * groups
	if res.Published != n || res.Expected != want || res.Received != want || res.Lost != 0 || res.Duplicated != 0 || res.AckTimeouts != 0 || res.Refused != 0 {
		t.Errorf("published %d expected %d received %d lost %d duplicated %d ack timeouts %d refused %d; want %d published, %d received, none lost",
			res.Published, res.Expected, res.Received, res.Lost, res.Duplicated, res.AckTimeouts, res.Refused, n, want)
	}
	if cfg.QoS > 0 && res.Acknowledged != n {
		t.Errorf("acknowledged %d, want %d", res.Acknowledged, n)
	}
	if res.LatencyUS.EndToEnd.Count != int64(want) {
		t.Errorf("end-to-end latency count %d, want %d", res.LatencyUS.EndToEnd.Count, want)
	}
	if cfg.QoS > 0 && res.LatencyUS.PublishAck.Count != int64(n) {
		t.Errorf("publish→ack latency count %d, want %d", res.LatencyUS.PublishAck.Count, n)
	}
}

func TestExactCountMosquitto(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	dial := dialerFor(t, testSettings(m.URL()))
	for _, cfg := range []Config{
		{Publishers: 1, Subscribers: 1, QoS: 0, Count: 5000},
		{Publishers: 3, Subscribers: 2, QoS: 0, Count: 2000},
		{Publishers: 1, Subscribers: 1, QoS: 1, Count: 5000},
		{Publishers: 3, Subscribers: 2, QoS: 1, Count: 2000},
		{Publishers: 3, Subscribers: 2, QoS: 2, Count: 1000},
		{Publishers: 4, Subscribers: 3, QoS: 1, Count: 1000, Shared: "g"},
		{Publishers: 2, Subscribers: 1, QoS: 1, Count: 500, Rate: 2000},
	} {
		t.Run(fmt.Sprintf("qos%d-%dx%d-%s", cfg.QoS, cfg.Publishers, cfg.Subscribers, cfg.Shared), func(t *testing.T) {
			cfg.Mode, cfg.Size = Roundtrip, 64
			checkExact(t, runBench(t, cfg, dial), cfg)
		})
	}
}

func TestExactCountEmbedded(t *testing.T) {
	dial := dialerFor(t, testSettings(startBroker(t)))
	for _, cfg := range []Config{
		{Publishers: 1, Subscribers: 1, QoS: 0, Count: 5000},
		{Publishers: 3, Subscribers: 2, QoS: 0, Count: 2000},
		{Publishers: 1, Subscribers: 1, QoS: 1, Count: 1000, Rate: 5000, Inflight: 10},
		{Publishers: 1, Subscribers: 1, QoS: 2, Count: 1000, Rate: 5000, Inflight: 10},
	} {
		t.Run(fmt.Sprintf("qos%d-%dx%d", cfg.QoS, cfg.Publishers, cfg.Subscribers), func(t *testing.T) {
			cfg.Mode, cfg.Size = Roundtrip, 64
			checkExact(t, runBench(t, cfg, dial), cfg)
		})
	}
}
