package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/payloadtest"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/payload"
	"github.com/iotctl/iotctl/pkg/session"
)

// watch subscribes a plain session to filter and collects payloads.
func watch(t *testing.T, url, filter string) (get func(n int) [][]byte) {
	t.Helper()
	var mu sync.Mutex
	var got [][]byte
	ch := make(chan struct{}, 1)
	o := ClientOptions(testSettings(url), ClientSpec{ClientID: "watcher", Handler: func(m *session.Message) error {
		mu.Lock()
		got = append(got, append([]byte(nil), m.Payload...))
		mu.Unlock()
		select {
		case ch <- struct{}{}:
		default:
		}
		return nil
	}})
	p, err := auth.New(o.Settings)
	if err != nil {
		t.Fatal(err)
	}
	o.Provider = p
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background(), 0) })
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: filter, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	return func(n int) [][]byte {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				mu.Lock()
				defer mu.Unlock()
				return got
			}
			select {
			case <-ch:
			case <-deadline:
				t.Fatalf("watcher received %d of %d", k, n)
			}
		}
	}
}

// bench --template: each payload is the bench header followed by the
// template's output, the same template pub --template runs (golden, with
// the time, the random number and the UUID normalised).
func TestTemplatePayloadGolden(t *testing.T) {
	url := startBroker(t)
	get := watch(t, url, "iotctl/bench/#")
	tmpl, err := payload.Parse("--template", payloadtest.Device)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mode: Pub, Publishers: 1, QoS: 1, Count: 3, Template: tmpl, TemplateText: payloadtest.Device, ClientIDPrefix: "test-"}
	res := runBench(t, cfg, dialerFor(t, testSettings(url)))
	var lines []string
	var bytes uint64
	for i, p := range get(3) {
		h, ok := ParseHeader(p)
		if !ok || h.Seq != uint64(i) || h.Publisher != 0 {
			t.Fatalf("message %d: header %+v ok %t", i, h, ok)
		}
		bytes += uint64(len(p))
		lines = append(lines, payloadtest.Normalise(t, string(p[HeaderSize:])))
	}
	text := strings.Join(lines, "\n") + "\n"
	file := filepath.Join("testdata", "template.golden")
	if *update {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := os.ReadFile(file)
	if text != string(want) {
		t.Errorf("payloads after the header (%s; -update after a deliberate change):\n%s", file, text)
	}
	if res.Settings.Template != payloadtest.Device || res.Settings.Size != 0 {
		t.Errorf("settings: template %q size %d", res.Settings.Template, res.Settings.Size)
	}
	if want := float64(bytes) / res.DurationS; res.BytesPerSecond != want {
		t.Errorf("bytes per second %g, want %g (the payloads' own sizes)", res.BytesPerSecond, want)
	}
}

// bench --topic-alias: the first PUBLISH of each publisher carries its
// topic and alias, the others the alias alone; the result shows both sizes.
func TestTopicAliasWireBytes(t *testing.T) {
	url := startBroker(t)
	const n = 100
	for _, alias := range []bool{false, true} {
		t.Run(fmt.Sprint(alias), func(t *testing.T) {
			cfg := Config{Mode: Roundtrip, Publishers: 2, Subscribers: 1, QoS: 1, Size: 64, Count: n, TopicAlias: alias, ClientIDPrefix: "test-"}
			res := runBench(t, cfg, dialerFor(t, testSettings(url)))
			if res.Received != 2*n || res.Lost != 0 {
				t.Fatalf("received %d lost %d", res.Received, res.Lost)
			}
			// Topic iotctl/bench/test/0: 19 bytes. Full: 1 + 1 (remaining
			// length) + 2+19 + 2 (packet ID) + 1 (properties) + 64 = 90;
			// aliased: topic 0 and the alias property 3 = 74; setting it 93.
			full := uint64(2 * n * 90)
			want := full
			if alias {
				want = 2 * (93 + (n-1)*74)
			}
			w := res.Wire
			if w.Publishes != 2*n || w.Bytes != want || w.FullBytes != full || res.Settings.TopicAlias != alias {
				t.Errorf("wire %+v, want %d PUBLISHes of %d bytes, %d in full", w, 2*n, want, full)
			}
			var text strings.Builder
			res.WriteText(&text)
			if alias && !strings.Contains(text.String(), "B saved") {
				t.Errorf("the report does not show the saving:\n%s", text.String())
			}
		})
	}
}
