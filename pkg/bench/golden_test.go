package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// volatile are the JSON names whose values change from run to run.
var volatile = map[string]bool{
	"duration_s": true, "publish_rate": true, "receive_rate": true, "bytes_per_second": true,
	"behind_schedule_max_us": true, "p50": true, "p90": true, "p99": true, "p999": true, "max": true,
	"endpoint": true, "receive_maximum": true, "per_second": true,
}

// normalise zeroes volatile numbers and strings, keeping the structure.
func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if volatile[k] {
				switch e.(type) {
				case float64:
					x[k] = 0.0
				case string:
					x[k] = "…"
				}
				continue
			}
			x[k] = normalise(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalise(e)
		}
	}
	return v
}

// The JSON result is a contract: names and structure stay put.
func TestResultJSONGolden(t *testing.T) {
	url := startBroker(t)
	cfg := Config{Mode: Roundtrip, Publishers: 2, Subscribers: 1, QoS: 0, Size: 64, Count: 100, Rate: 2000, ClientIDPrefix: "test-"}
	res := runBench(t, cfg, dialerFor(t, testSettings(url)))
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(normalise(doc), "", "  ")
	got = append(got, '\n')
	file := filepath.Join("testdata", "result.golden.json")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("JSON result differs from %s (go test -run Golden -update after a deliberate change):\n%s", file, got)
	}
	for _, name := range []string{"settings", "duration_s", "published", "acknowledged", "refused", "ack_timeouts", "received", "lost", "duplicated", "out_of_order", "publish_rate", "receive_rate", "bytes_per_second", "behind_schedule_max_us", "latency_us", "connections"} {
		if _, ok := doc.(map[string]any)[name]; !ok {
			t.Errorf("top-level %q missing", name)
		}
	}
}
