package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	mqtt "github.com/mochi-mqtt/server/v2"
)

// startBroker starts the embedded broker with extra hooks and returns its URL.
func startBroker(t testing.TB, hooks ...mqtt.Hook) string {
	t.Helper()
	b, err := broker.New(broker.Options{Listen: "127.0.0.1:0", Hooks: hooks, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.URL(broker.MQTT)
}

// testSettings are the resolved defaults pointed at endpoint.
func testSettings(endpoint string) *profile.Settings {
	return &profile.Settings{
		Endpoint:       endpoint,
		Keepalive:      60 * time.Second,
		CleanStart:     true,
		ConnectTimeout: 10 * time.Second,
		Limits:         "mqtt5",
		Output:         "text",
		ClientIDPrefix: "iotctl-",
	}
}

func dialerFor(t testing.TB, st *profile.Settings) Dialer {
	t.Helper()
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	return SessionDialer(st, p, limits.MQTT5, nil, nil)
}

// runBench runs cfg against endpoint and fails the test on an error.
func runBench(t testing.TB, cfg Config, dial Dialer) *Result {
	t.Helper()
	if cfg.RunID == "" {
		cfg.RunID = "test"
	}
	b, err := New(cfg, Target{Endpoint: "test", Auth: "none", Limits: "mqtt5"}, dial, func(msg string) { t.Log("warning: " + msg) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := b.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// skipMochiQoS skips QoS>0 runs on the embedded broker: mochi-mqtt v2.7.9
// deadlocks under QoS>0 delivery. Inflight.NextImmediate holds the read lock
// and calls GetAll, which read-locks again; when a publisher's goroutine
// queues for the write lock (Inflight.Set) in between, the subscriber's
// read loop and the publisher's both stop, and the broker with them.
// IOTCTL_TEST_MOCHI_QOS=1 runs them anyway (once pkg/broker carries a fix).
func skipMochiQoS(t *testing.T) {
	t.Helper()
	if os.Getenv("IOTCTL_TEST_MOCHI_QOS") != "1" {
		t.Skip("mochi-mqtt v2.7.9 deadlocks under QoS>0 load (Inflight.NextImmediate read-locks twice); set IOTCTL_TEST_MOCHI_QOS=1 to run")
	}
}

// dropEvery wraps a dialer so each subscriber's handler silently drops
// every nth message it is given (the message is still acknowledged), as a
// lossy broker would.
func dropEvery(n int, dial Dialer) Dialer {
	return func(ctx context.Context, c ClientSpec) (*session.Session, error) {
		if h := c.Handler; h != nil {
			k := 0
			c.Handler = func(m *session.Message) error {
				if k++; k%n == 0 {
					return nil
				}
				return h(m)
			}
		}
		return dial(ctx, c)
	}
}

func fmtInt(n int) string { return strconv.Itoa(n) }
