package sub

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/session"
)

// Topics that try to leave --out-dir, or clash with its own names, and the
// folder each one's messages go to (golden).
var escapeCases = []struct{ topic, folder string }{
	{"sensors/1/temp", "sensors/1/temp"},
	{"..", ".%2E"},
	{".", "%2E"},
	{"../../etc/passwd", ".%2E/.%2E/etc/passwd"},
	{"a/../../b", "a/.%2E/.%2E/b"},
	{"/abs/path", "%/abs/path"},
	{"a//b", "a/%/b"},
	{"a/", "a/%"},
	{`..\..\windows`, `..%5C..%5Cwindows`},
	{`c:\x`, "c%3A%5Cx"},
	{"100%", "100%25"},
	{"%2E%2E", "%252E%252E"},
	{"nul\x00x", "nul%00x"},
	{"tab\tnl\n", "tab%09nl%0A"},
	{"CON", "%43ON"},
	{"con.txt", "%63on.txt"},
	{"lpt9/COM1.log", "%6Cpt9/%43OM1.log"},
	{"console", "console"},
	{"trailing ", "trailing%20"},
	{"dots...", "dots..%2E"},
	{".hidden", ".hidden"},
	{"000001.msg", "000001%2Emsg"},
	{".000001.msg.tmp", "%2E000001%2Emsg%2Etmp"},
	{"x.msg", "x.msg"},
	{`a<b>c|d?e*f"g`, "a%3Cb%3Ec%7Cd%3Fe%2Af%22g"},
	{"ünïcode/日本", "ünïcode/日本"},
}

func TestEscapeLevelGolden(t *testing.T) {
	seen := map[string]string{}
	for _, tt := range escapeCases {
		got := topicPath(tt.topic)
		if got != tt.folder {
			t.Errorf("topicPath(%q) = %q, want %q", tt.topic, got, tt.folder)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%q and %q share the folder %q", tt.topic, other, got)
		}
		seen[got] = tt.topic
		if !filepath.IsLocal(filepath.FromSlash(got)) {
			t.Errorf("%q: folder %q is not local", tt.topic, got)
		}
	}
	long := strings.Repeat("é", 300)
	got := escapeLevel(long)
	if len(got) > maxLevelName || !strings.Contains(got, "%~") {
		t.Errorf("a %d-byte level gave %d bytes: %q", len(long), len(got), got)
	}
	if escapeLevel(long+"x") == got {
		t.Error("two long levels share a name")
	}
	if long := strings.Repeat("%", 300); len(escapeLevel(long)) > maxLevelName || strings.Contains(escapeLevel(long), "%2%~") {
		t.Errorf("a long escaped level was cut inside an escape: %q", escapeLevel(long))
	}
}

// listFiles is every file under dir, slash-separated, relative to dir.
func listFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Hostile topics through a real broker land inside --out-dir, one file per
// message under the escaped folders, and stdout still gets them.
func TestOutDirEscapes(t *testing.T) {
	url := startBroker(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	var msgs []*session.Message
	var want []string
	for _, tt := range escapeCases {
		if strings.ContainsRune(tt.topic, 0) {
			continue // not a valid MQTT topic
		}
		msgs = append(msgs, &session.Message{Topic: tt.topic, Payload: []byte("p:" + tt.topic), QoS: 1})
		want = append(want, tt.folder+"/000001.msg")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, url, "-t", "#", "-q", "1", "--out-dir", dir, "-C", itoa(len(msgs)))
	p.waitSubscribed(t)
	publish(t, url, msgs...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v", code, p.err)
	}
	files := listFiles(t, dir)
	var names []string
	for name, data := range files {
		names = append(names, name)
		if !strings.HasPrefix(data, "p:") {
			t.Errorf("%s holds %q", name, data)
		}
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("files\n%q\nwant\n%q", names, want)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("something was written beside --out-dir: %v", entries)
	}
	if n := strings.Count(p.out.String(), "p:"); n != len(msgs) {
		t.Errorf("stdout has %d lines, want %d", n, len(msgs))
	}
}

// A topic far longer than a path may be (thousands of bytes in hundreds
// of levels) is written: the levels past maxFolderPath become one hashed
// folder, different for topics that differ only there.
func TestOutDirLongTopics(t *testing.T) {
	long := strings.Repeat(strings.Repeat("l", 150)+"/", 60) // 9,060 bytes
	topics := []string{long + "a", long + "b", strings.Repeat("x/", 3000) + "y"}
	for _, topic := range topics {
		folder := topicPath(topic)
		if len(folder) > maxFolderPath {
			t.Errorf("folder of a %d-byte topic is %d bytes", len(topic), len(folder))
		}
	}
	if topicPath(topics[0]) == topicPath(topics[1]) {
		t.Errorf("two topics share the folder %s", topicPath(topics[0]))
	}
	if got := topicPath("a/b"); got != "a/b" {
		t.Errorf("short topic: %s", got)
	}
	url := startBroker(t)
	dir := t.TempDir()
	var msgs []*session.Message
	for _, topic := range topics {
		msgs = append(msgs, &session.Message{Topic: topic, Payload: []byte("p"), QoS: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, url, "-t", "#", "-q", "1", "--out-dir", dir, "-C", itoa(len(msgs)), "--quiet")
	p.waitSubscribed(t)
	publish(t, url, msgs...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v", code, p.err)
	}
	if files := listFiles(t, dir); len(files) != len(topics) {
		t.Errorf("%d files, want %d: %v", len(files), len(topics), files)
	}
}

// Messages on one topic are numbered on from the highest number already
// there; json output goes in the files as on stdout; --quiet prints nothing.
func TestOutDirSequenceJSONQuiet(t *testing.T) {
	url := startBroker(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s", "t"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s", "t", "000041.msg"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, url, "-t", "s/t", "-q", "1", "--out-dir", dir, "-F", "json", "--quiet", "-C", "2")
	p.waitSubscribed(t)
	publish(t, url, &session.Message{Topic: "s/t", Payload: []byte("one"), QoS: 1}, &session.Message{Topic: "s/t", Payload: []byte("two"), QoS: 1})
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v", code, p.err)
	}
	files := listFiles(t, dir)
	if len(files) != 3 || files["s/t/000041.msg"] != "old" || !strings.Contains(files["s/t/000042.msg"], `"payload":"one"`) || !strings.Contains(files["s/t/000043.msg"], `"payload":"two"`) {
		t.Errorf("files %q", files)
	}
	if p.out.String() != "" {
		t.Errorf("--quiet printed %q", p.out.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "s", "t", "000042.msg"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// A symbolic link inside --out-dir that points outside it is not followed:
// the message is not written, not acknowledged, and sub exits 7. A folder
// that cannot be made (a file is in the way) is exit 7 too.
func TestOutDirRefusesToLeave(t *testing.T) {
	url := startBroker(t)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, dir, outside string)
	}{
		{"symlink out", func(t *testing.T, dir, outside string) {
			if err := os.Symlink(outside, filepath.Join(dir, "esc")); err != nil {
				t.Skipf("no symbolic links: %v", err)
			}
		}},
		{"file in the way", func(t *testing.T, dir, _ string) {
			if err := os.WriteFile(filepath.Join(dir, "esc"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			tt.setup(t, dir, outside)
			id := "outdir-" + strings.ReplaceAll(tt.name, " ", "-")
			persist := []string{"-t", "esc/#", "-q", "1", "--client-id", id, "--clean-start=false", "--session-expiry", "1h"}
			if _, stderr, code := runSub(t, url, append(persist, "-W", "500ms")...); code != 5 {
				t.Fatalf("first run: exit %d: %s", code, stderr)
			}
			publish(t, url, &session.Message{Topic: "ok", QoS: 1}, &session.Message{Topic: "esc/x/y", Payload: []byte("secret"), QoS: 1})
			stderr, code := runSubErr(t, url, append(persist, "--out-dir", dir, "-W", "20s")...)
			if code != 7 || !strings.Contains(stderr, "1 message received but not written") {
				t.Fatalf("exit %d, want 7 with the count: %s", code, stderr)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Fatalf("written outside --out-dir: %v", entries)
			}
			// Not acknowledged: the session has it still.
			stdout, stderr, code := runSub(t, url, append(persist, "-C", "1", "-W", "20s")...)
			if code != 0 || stdout != "secret\n" {
				t.Errorf("the message was acknowledged: exit %d, stdout %q, %s", code, stdout, stderr)
			}
		})
	}
}

// --out-file appends; a full disk is exit 7 with the count and nothing
// unwritten is acknowledged.
func TestOutFile(t *testing.T) {
	url := startBroker(t)
	t.Run("append", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "log")
		// No newline at the end (a batch torn by a kill): one is added.
		if err := os.WriteFile(file, []byte("before"), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := startSub(t, ctx, url, "-t", "f/a", "-q", "1", "--out-file", file, "-v", "-C", "2")
		p.waitSubscribed(t)
		publish(t, url, &session.Message{Topic: "f/a", Payload: []byte("1"), QoS: 1}, &session.Message{Topic: "f/a", Payload: []byte("2"), QoS: 1})
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit %d: %v", code, p.err)
		}
		b, _ := os.ReadFile(file)
		if string(b) != "before\nf/a 1\nf/a 2\n" || p.out.String() != "f/a 1\nf/a 2\n" {
			t.Errorf("file %q, stdout %q", b, p.out.String())
		}
	})
	t.Run("no newline added with -N", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(file, []byte("before"), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := startSub(t, ctx, url, "-t", "f/n", "-q", "1", "--out-file", file, "-N", "-C", "1")
		p.waitSubscribed(t)
		publish(t, url, &session.Message{Topic: "f/n", Payload: []byte("x"), QoS: 1})
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit %d: %v", code, p.err)
		}
		if b, _ := os.ReadFile(file); string(b) != "beforex" {
			t.Errorf("file %q", b)
		}
	})
	t.Run("disk full", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		persist := []string{"-t", "f/full", "-q", "1", "--client-id", "outfile-full", "--clean-start=false", "--session-expiry", "1h"}
		if _, stderr, code := runSub(t, url, append(persist, "-W", "500ms")...); code != 5 {
			t.Fatalf("first run: exit %d: %s", code, stderr)
		}
		const n = 20
		var msgs []*session.Message
		for i := range n {
			msgs = append(msgs, &session.Message{Topic: "f/full", Payload: []byte(itoa(i)), QoS: 1})
		}
		publish(t, url, msgs...)
		stderr, code := runSubErr(t, url, append(persist, "--out-file", "/dev/full", "-W", "20s")...)
		if code != 7 || !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "received but not written") {
			t.Fatalf("exit %d, want 7 with the count: %s", code, stderr)
		}
		stdout, stderr, code := runSub(t, url, append(persist, "-C", itoa(n), "-W", "20s")...)
		if code != 0 {
			t.Fatalf("messages were acknowledged without being written: exit %d, got %q: %s", code, stdout, stderr)
		}
	})
	t.Run("bad paths", func(t *testing.T) {
		dir := t.TempDir()
		for _, args := range [][]string{
			{"--out-file", dir},
			{"--out-file", filepath.Join(dir, "no", "such")},
			{"--quiet"},
		} {
			stderr, code := runSubErr(t, "127.0.0.1:1", append([]string{"-t", "x"}, args...)...)
			if code != 2 || strings.Contains(stderr, "\n") || !strings.Contains(stderr, ": give") {
				t.Errorf("%q: exit %d, %q", args, code, stderr)
			}
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// runSubErr runs sub to the end and returns its error's text and exit code.
func runSubErr(t *testing.T, endpoint string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, endpoint, args...)
	code := p.wait(t)
	if p.err == nil {
		return "", code
	}
	return p.err.Error(), code
}
