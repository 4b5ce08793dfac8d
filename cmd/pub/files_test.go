package pub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// writeTree creates files (slash-separated names) under a new folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Bad files, patterns and topics are exit 2 before connecting.
func TestFilesUsageErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.json": "{}", "w+ild.json": "{}", "sub/b.json": "{}", "big.bin": strings.Repeat("x", 129*1024)})
	empty := t.TempDir()
	for name, tc := range map[string]struct {
		settings []string
		opts     func(*Options)
		want     string
	}{
		"no match":          {nil, func(o *Options) { o.Topic, o.Files = "f", []string{filepath.Join(dir, "*.txt")} }, "no such file"},
		"bad pattern":       {nil, func(o *Options) { o.Topic, o.Files = "f", []string{filepath.Join(dir, "[")} }, "pattern"},
		"wildcard in name":  {nil, func(o *Options) { o.Topic, o.Files = "f/{name}", []string{filepath.Join(dir, "*.json")} }, "w+ild.json"},
		"wildcard in path":  {nil, func(o *Options) { o.Topic, o.FileDir = "f/{path}", dir }, "wildcard"},
		"directory matched": {nil, func(o *Options) { o.Topic, o.Files = "f", []string{filepath.Join(dir, "*")} }, "is a directory"},
		"too large":         {[]string{"--limits", "aws-iot"}, func(o *Options) { o.Topic, o.FileDir = "f", dir }, "too large"},
		"not a folder":      {nil, func(o *Options) { o.Topic, o.FileDir = "f", filepath.Join(dir, "a.json") }, "not a folder"},
		"missing folder":    {nil, func(o *Options) { o.Topic, o.FileDir = "f", filepath.Join(dir, "nope") }, "no such file"},
		"empty folder":      {nil, func(o *Options) { o.Topic, o.FileDir = "f", empty }, "no file"},
		"count":             {nil, func(o *Options) { o.Topic, o.Files, o.Count = "f", []string{filepath.Join(dir, "a.json")}, 2 }, "--count"},
		"two sources":       {nil, func(o *Options) { o.Topic, o.FileDir, o.Null = "f", dir, true }, "only one"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--endpoint", "127.0.0.1:9", "--connect-timeout", "1s"}, tc.settings...)
			o, _ := pubOpts(t, nil, args...)
			tc.opts(o)
			err := pubRun(context.Background(), o)
			if cmdutil.ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v (exit %d), want exit 2 with %q", err, cmdutil.ExitCode(err), tc.want)
			}
		})
	}
}

type fileMsg struct {
	topic, payload string
	retain         bool
}

// recorder subscribes to filter and records what arrives, in order.
func recorder(t *testing.T, endpoint, filter string) (func(n int) []fileMsg, *session.Session) {
	t.Helper()
	st := testenv.Settings(t, "--endpoint", endpoint)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []fileMsg
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: func(m *session.Message) error {
		mu.Lock()
		got = append(got, fileMsg{m.Topic, string(m.Payload), m.Retain})
		mu.Unlock()
		select {
		case ch <- struct{}{}:
		default:
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background(), 0) })
	if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: filter, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	return func(n int) []fileMsg {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				break
			}
			select {
			case <-ch:
			case <-deadline:
				t.Fatalf("fileMsg %d of %d messages", k, n)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]fileMsg(nil), got...)
	}, s
}

// runPubCmd runs `iotctl pub args…` through the command tree.
func runPubCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	root := clitest.Root(NewCmdPub(cmdutil.NewFactory(ios, "test"), nil), &out, &errOut)
	root.SetArgs(append([]string{"pub"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return errOut.String(), cmdutil.ExitCode(err)
}

// --files publishes the files in sorted order with {name}; the shell's
// expansion (files after --files) works; --file-per-message fills {path}
// relative to the folder, skips dot files, and keeps QoS and retain.
func TestFilesPublish(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	ep := b.URL("mqtt")
	dir := writeTree(t, map[string]string{"b.json": "B", "a.json": "A", "c.txt": "C", "sub/d.json": "D", ".hidden": "H", "sub/.tmp/x": "X"})

	wait, _ := recorder(t, ep, "files/#")
	stderr, code := runPubCmd(t, "--endpoint", ep, "-t", "files/{name}", "-q", "1",
		"--files", filepath.Join(dir, "*.json"), filepath.Join(dir, "c.txt"), filepath.Join(dir, "a.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := wait(3)
	want := []fileMsg{{"files/a.json", "A", false}, {"files/b.json", "B", false}, {"files/c.txt", "C", false}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("fileMsg %v, want %v (sorted, each once)", got, want)
	}

	wait, _ = recorder(t, ep, "tree/#")
	stderr, code = runPubCmd(t, "--endpoint", ep, "-t", "tree/{path}", "-q", "1", "-r", "--file-per-message", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got = wait(4)
	want = []fileMsg{{"tree/a.json", "A", false}, {"tree/b.json", "B", false}, {"tree/c.txt", "C", false}, {"tree/sub/d.json", "D", false}}
	if len(got) != 4 {
		t.Fatalf("fileMsg %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %v, want %v", i, got[i], want[i])
		}
	}
	// Retained: a new subscriber gets them with the retain flag.
	wait, _ = recorder(t, ep, "tree/sub/#")
	if got := wait(1); got[0] != (fileMsg{"tree/sub/d.json", "D", true}) {
		t.Errorf("retained: %v", got)
	}
}
