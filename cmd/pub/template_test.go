package pub

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/payloadtest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// received subscribes to topic and collects payloads in order.
type received struct {
	mu   sync.Mutex
	msgs [][]byte
	ch   chan struct{}
}

func receive(t *testing.T, endpoint, topic string) *received {
	t.Helper()
	r := &received{ch: make(chan struct{}, 1)}
	st := testenv.Settings(t, "--endpoint", endpoint)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: func(m *session.Message) error {
		r.mu.Lock()
		r.msgs = append(r.msgs, append([]byte(nil), m.Payload...))
		r.mu.Unlock()
		select {
		case r.ch <- struct{}{}:
		default:
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background(), 0) })
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: topic, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *received) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		got := r.msgs
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
}

func runPub(t *testing.T, endpoint string, stdin string, set func(*Options), settings ...string) error {
	t.Helper()
	o, _ := pubOpts(t, strings.NewReader(stdin), append([]string{"--endpoint", endpoint}, settings...)...)
	o.Topic, o.QoS = "tmpl/t", 1
	set(o)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pubRun(ctx, o)
}

// The README's device simulation, golden with the time, the random number
// and the UUID normalised (their shapes checked).
func TestTemplateGolden(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	ep := b.URL("mqtt")
	rec := receive(t, ep, "tmpl/t")
	err := runPub(t, ep, "", func(o *Options) {
		o.Message, o.MessageSet, o.Template, o.Count = payloadtest.Device, true, true, 3
	}, "--client-id", "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 3)
	var all []string
	for _, p := range got {
		all = append(all, payloadtest.Normalise(t, string(p)))
	}
	golden := filepath.Join("testdata", "template.golden")
	text := strings.Join(all, "\n") + "\n"
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := os.ReadFile(golden)
	if text != string(want) {
		t.Errorf("got:\n%swant (%s):\n%s", text, golden, want)
	}
}

// Templates that cannot run and bad encodings are usage errors before
// connecting (nobody listens on the endpoint).
func TestTemplateAndEncodingErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		set  func(*Options)
		want string
	}{
		"unknown field":    {func(o *Options) { o.Message, o.MessageSet, o.Template = "{{.Nope}}", true, true }, "Nope"},
		"parse error":      {func(o *Options) { o.Message, o.MessageSet, o.Template = "{{.Count", true, true }, "--template"},
		"bad random":       {func(o *Options) { o.Message, o.MessageSet, o.Template = "{{.Random 0}}", true, true }, "positive"},
		"template no -m":   {func(o *Options) { o.Null, o.Template = true, true }, "--template"},
		"bad hex":          {func(o *Options) { o.Message, o.MessageSet, o.Encoding = "abz", true, "hex" }, "not hexadecimal"},
		"bad base64":       {func(o *Options) { o.Message, o.MessageSet, o.Encoding = "!!!", true, "base64" }, "not base64"},
		"unknown encoding": {func(o *Options) { o.Message, o.MessageSet, o.Encoding = "x", true, "rot13" }, "text, hex or base64"},
	} {
		t.Run(name, func(t *testing.T) {
			err := runPub(t, "127.0.0.1:9", "", tc.set, "--connect-timeout", "1s")
			if cmdutil.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v (exit %d), want exit 2 and one line with %q", err, cmdutil.ExitCode(err), tc.want)
			}
		})
	}
}

func TestEncodings(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	ep := b.URL("mqtt")
	for name, tc := range map[string]struct {
		set   func(*Options)
		stdin string
		want  []string
	}{
		"hex -m":     {func(o *Options) { o.Message, o.MessageSet, o.Encoding = "DEADbeef00", true, "hex" }, "", []string{"\xde\xad\xbe\xef\x00"}},
		"base64 -m":  {func(o *Options) { o.Message, o.MessageSet, o.Encoding = "AAH/", true, "base64" }, "", []string{"\x00\x01\xff"}},
		"base64 raw": {func(o *Options) { o.Message, o.MessageSet, o.Encoding = "AAE", true, "base64" }, "", []string{"\x00\x01"}},
		"hex lines":  {func(o *Options) { o.Lines, o.Encoding = true, "hex" }, "00ff\r\n41\n\n", []string{"\x00\xff", "A", ""}},
		"hex stdin":  {func(o *Options) { o.Stdin, o.Encoding = true, "hex" }, "0102", []string{"\x01\x02"}},
		"hex template": {func(o *Options) {
			o.Message, o.MessageSet, o.Template, o.Encoding, o.Count = "0{{.Count}}", true, true, "hex", 2
		}, "", []string{"\x01", "\x02"}},
	} {
		t.Run(name, func(t *testing.T) {
			topic := "enc/" + strings.ReplaceAll(name, " ", "-")
			rec := receive(t, ep, topic)
			if err := runPub(t, ep, tc.stdin, func(o *Options) { tc.set(o); o.Topic = topic }); err != nil {
				t.Fatal(err)
			}
			got := rec.wait(t, len(tc.want))
			for i, w := range tc.want {
				if string(got[i]) != w {
					t.Errorf("message %d: %q, want %q", i, got[i], w)
				}
			}
		})
	}
	t.Run("bad hex line stops before it", func(t *testing.T) {
		rec := receive(t, ep, "enc/badline")
		err := runPub(t, ep, "41\nzz\n42\n", func(o *Options) { o.Topic, o.Lines, o.Encoding = "enc/badline", true, "hex" })
		if cmdutil.ExitCode(err) != 2 || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("err %v (exit %d)", err, cmdutil.ExitCode(err))
		}
		if got := rec.wait(t, 1); len(got) != 1 || string(got[0]) != "A" {
			t.Errorf("got %q", got)
		}
	})
}
