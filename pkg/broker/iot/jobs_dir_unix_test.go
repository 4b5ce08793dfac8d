//go:build unix

package iot

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJobsFolderHostileFiles: a FIFO, a link to an endless device and a
// huge file in the jobs folder are skipped with a log line: the watcher
// neither blocks on them nor reads them into memory, and the next file
// still makes its job.
func TestJobsFolderHostileFiles(t *testing.T) {
	poll := jobsDirPoll
	jobsDirPoll = 10 * time.Millisecond
	t.Cleanup(func() { jobsDirPoll = poll })
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "a-fifo.json"), 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "b-zero.json")); err != nil {
		t.Fatal(err)
	}
	big, err := os.Create(filepath.Join(dir, "c-big.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(4 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	big.Close()
	_, w, c := jobsWorld(t, Config{JobsDir: dir})
	if err := os.WriteFile(filepath.Join(dir, ".z"), []byte(`{"targets":["dev1"],"document":{"ok":1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, ".z"), filepath.Join(dir, "z-ok.json")); err != nil {
		t.Fatal(err)
	}
	m := c.waitFor("$aws/things/dev1/jobs/notify-next")
	if !strings.Contains(string(m.bytes()), `"jobId":"z-ok"`) {
		t.Errorf("notify-next: %s", m.bytes())
	}
	w.logs.has(t, "IoT: jobs folder: file not read", "a-fifo.json", "not a regular file")
	w.logs.has(t, "IoT: jobs folder: file not read", "b-zero.json", "not a regular file")
	w.logs.has(t, "IoT: jobs folder: file not read", "c-big.json", "a job file has at most")
}
