package broker

import (
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/pkg/errs"
)

func readFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(dir + string(os.PathSeparator) + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	return files
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func TestListenErrorIsUsage(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	b, err := New(Options{Home: t.TempDir(), WSListen: "127.0.0.1:0", Listen: taken.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Start()
	var le *ListenError
	if !errors.As(err, &le) || le.Scheme != MQTT || le.Addr != taken.Addr().String() {
		t.Fatalf("Start: %v, want a ListenError for %s", err, taken.Addr())
	}
	if errs.KindOf(err) != errs.Usage {
		t.Errorf("kind %v, want usage", errs.KindOf(err))
	}
}

// TestCloseWithSilentConnection: a connection that never sends CONNECT must
// not hold up Close (mochi waits for every connection's goroutine).
func TestCloseWithSilentConnection(t *testing.T) {
	b, err := New(Options{Home: t.TempDir(), Listen: "127.0.0.1:0", WSListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	_, addr, _ := strings.Cut(b.URL(MQTT), "://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ws, _, err := dialWS(t, b.URL(WS)+"/mqtt", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
	if err := b.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// TestNoListeners: a broker with no listener binds nothing and still
// takes in-process publishes.
func TestNoListeners(t *testing.T) {
	b := start(t, Options{Logger: slog.New(slog.DiscardHandler)})
	if len(b.Listeners()) != 0 || b.URL(MQTT) != "" {
		t.Fatalf("listeners %v, want none", b.Listeners())
	}
	if err := b.Publish("in/x", []byte("hello"), true, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("in/+", []byte("hello"), false, 0); err == nil {
		t.Fatal("publish to a wildcard topic succeeded")
	}
}
