package bench

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// startBroker starts the embedded broker with extra hooks and returns its URL.
func startBroker(t testing.TB, hooks ...broker.Hook) string {
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
