package sub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
)

// `iotctl sub --out-file` killed with SIGKILL while messages stream in, then
// started again on the same persistent session: every message is in the
// file, since sub acknowledges a message only after writing it there
// (duplicates are allowed at QoS 1, losses are not).
func TestOutFileSurvivesSIGKILL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is Unix")
	}
	peers := map[string]func(t *testing.T) string{
		"embedded": func(t *testing.T) string { return startBroker(t) },
		"mosquitto": func(t *testing.T) string {
			return startMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1}).URL()
		},
	}
	for _, name := range []string{"embedded", "mosquitto"} {
		t.Run(name, func(t *testing.T) {
			url := peers[name](t)
			const n = 5000
			file := filepath.Join(t.TempDir(), "out.log")
			args := []string{"sub", "--endpoint", url, "-t", "kill/" + name, "-q", "1", "--client-id", "kill-" + name,
				"--clean-start=false", "--session-expiry", "1h", "--out-file", file, "--quiet"}
			r := startBinary(t, args...)
			r.waitStderr(t, "subscribed to kill/")

			st := testenv.Settings(t, "--endpoint", url)
			done := make(chan error, 1)
			go func() { done <- publishN(st, "kill/"+name, n) }()
			waitLines(t, file, n/10, nil)
			if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-r.done
			before := countLines(t, file)
			if err := <-done; err != nil {
				t.Fatalf("publish: %v", err)
			}

			r2 := startBinary(t, args...)
			seen := waitLines(t, file, n, r2.done)
			if err := r2.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if code := r2.exitCode(t); code != 130 {
				t.Errorf("restarted sub: exit %d, want 130: %s", code, r2.stderr.String())
			}
			total := countLines(t, file)
			t.Logf("%s: %d lines in the file at SIGKILL; after the restart %d lines for %d messages (%d duplicates)", name, before, total, len(seen), total-len(seen))
		})
	}
}

// publishN publishes "0" … "n-1" at QoS 1 and waits for every PUBACK.
func publishN(st *profile.Settings, topic string, n int) error {
	p, err := auth.New(st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p})
	if err != nil {
		return err
	}
	defer s.Close(ctx, 0)
	refused := make(chan error, 1)
	for i := range n {
		m := &session.Message{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))}
		if err := s.Publish(ctx, m, func(err error) {
			if err != nil {
				select {
				case refused <- err:
				default:
				}
			}
		}); err != nil {
			return err
		}
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-refused:
		return err
	default:
		return nil
	}
}

// countLines is the number of lines in file.
func countLines(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// waitLines waits until file holds want distinct numbered lines and
// returns them; every line must be a whole number (a batch torn by the
// kill leaves a line that is a prefix of one, and a newline is added after
// it). It fails when exited closes first.
func waitLines(t *testing.T, file string, want int, exited <-chan struct{}) map[int]bool {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		seen := map[int]bool{}
		b, _ := os.ReadFile(file)
		lines := bytes.Split(b, []byte("\n"))
		for i, l := range lines {
			if i == len(lines)-1 {
				break // a write in progress, or torn by the kill
			}
			v, err := strconv.Atoi(string(l))
			if err != nil {
				t.Fatalf("line %d of the file is %q", i+1, l)
			}
			seen[v] = true
		}
		if len(seen) >= want {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file holds %d distinct messages, want %d", len(seen), want)
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("sub exited with %d distinct messages in the file, want %d", len(seen), want)
		}
	}
}

// The same with --out-dir: every message has its file after the restart;
// a temporary file a kill left behind is not a message.
func TestOutDirSurvivesSIGKILL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is Unix")
	}
	url := startBroker(t)
	const n = 2000
	dir := t.TempDir()
	args := []string{"sub", "--endpoint", url, "-t", "killdir", "-q", "1", "--client-id", "kill-dir",
		"--clean-start=false", "--session-expiry", "1h", "--out-dir", dir, "--quiet"}
	r := startBinary(t, args...)
	r.waitStderr(t, "subscribed to killdir")
	st := testenv.Settings(t, "--endpoint", url)
	done := make(chan error, 1)
	go func() { done <- publishN(st, "killdir", n) }()
	waitFiles(t, filepath.Join(dir, "killdir"), n/10, nil)
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.done
	if err := <-done; err != nil {
		t.Fatalf("publish: %v", err)
	}
	r2 := startBinary(t, args...)
	files, seen := waitFiles(t, filepath.Join(dir, "killdir"), n, r2.done)
	if err := r2.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := r2.exitCode(t); code != 130 {
		t.Errorf("restarted sub: exit %d, want 130: %s", code, r2.stderr.String())
	}
	t.Logf("%d files for %d messages", files, seen)
}

// waitFiles waits until folder holds message files with want distinct
// numbers (the payloads) and returns how many files and numbers it saw.
func waitFiles(t *testing.T, folder string, want int, exited <-chan struct{}) (int, int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		seen := map[int]bool{}
		entries, _ := os.ReadDir(folder)
		files := 0
		for _, e := range entries {
			if _, ok := messageSeq(e.Name()); !ok {
				continue // a temporary file
			}
			b, err := os.ReadFile(filepath.Join(folder, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			v, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatalf("%s holds %q", e.Name(), b)
			}
			seen[v] = true
			files++
		}
		if len(seen) >= want {
			return files, len(seen)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d distinct messages in %s, want %d", len(seen), folder, want)
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("sub exited with %d distinct messages in %s, want %d", len(seen), folder, want)
		}
	}
}
