package pubsub

import (
	"encoding/json"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/broker"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// refuseHook refuses every publish with 0x87.
type refuseHook struct{ broker.HookBase }

func (refuseHook) ID() string           { return "refuse" }
func (refuseHook) Provides(b byte) bool { return b == broker.OnACLCheck }
func (refuseHook) OnACLCheck(cl *broker.Client, topic string, write bool) bool {
	return !write
}

// TestReportJSON checks pubsub -o json against testdata/*.json on success
// and on the failure exits after connecting; the exit codes are text mode's.
func TestReportJSON(t *testing.T) {
	start := func(t *testing.T, hooks ...broker.Hook) string {
		b, err := broker.New(broker.Options{Listen: "127.0.0.1:0", Hooks: hooks})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b.URL("mqtt")
	}
	cases := []struct {
		name  string
		hooks []broker.Hook
		code  int
	}{
		{"embedded", nil, 0},
		{"timeout", []broker.Hook{&dropHook{}}, 5},
		{"refused", []broker.Hook{&refuseHook{}}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			settings := []string{"-o", "json", "--client-id", "test-golden"}
			if tc.name != "embedded" {
				settings = append(settings, "--endpoint", start(t, tc.hooks...))
			}
			err, out, errOut := run(t, func(o *Options) { o.Count, o.Timeout = 3, 300*time.Millisecond }, settings...)
			if code := cmdutil.ExitCode(err); code != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.code, errOut)
			}
			if !json.Valid([]byte(out)) || strings.Contains(out, "Received message") {
				t.Fatalf("want one JSON document:\n%s", out)
			}
			got := regexp.MustCompile(`mqtt://127\.0\.0\.1:\d+`).ReplaceAllString(out, "mqtt://127.0.0.1:PORT")
			golden(t, tc.name+".json", got)
		})
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	clitest.Golden(t, name, got, *update)
}
