package profilestore

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
)

// both runs a and b at once and waits for both.
func both(a, b func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a() }()
	go func() { defer wg.Done(); b() }()
	wg.Wait()
}

// TestConcurrentWritersLoseNothing: two Stores on one folder (each lock
// opens its own descriptor, so flock serialises them as it would two
// processes) change different keys of one profile, set against set and
// set against unset; no round loses an update.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	s1, _ := newStore(t)
	s2 := &Store{Dir: s1.Dir}
	lost := 0
	for i := range 100 {
		var err1, err2 error
		both(func() { _, err1 = s1.Set("p", map[string]string{"client-id": fmt.Sprint("a", i)}) },
			func() {
				if _, err2 = s2.Unset("p", []string{"username"}); err2 == nil || i == 0 {
					_, err2 = s2.Set("p", map[string]string{"username": fmt.Sprint("b", i)})
				}
			})
		if err1 != nil || err2 != nil {
			t.Fatalf("round %d: %v, %v", i, err1, err2)
		}
		v, err := s1.Load("p")
		if err != nil {
			t.Fatal(err)
		}
		if v["client-id"] != fmt.Sprint("a", i) || v["username"] != fmt.Sprint("b", i) {
			lost++
			t.Errorf("round %d: lost an update: %v", i, v)
		}
	}
	t.Logf("RELIABILITY lost_updates=%d of 100 rounds", lost)
	checkModes(t, s1)
}

// TestUseDeleteRace: profile use and profile delete of the same profile at
// once never leave the selection naming a deleted profile.
func TestUseDeleteRace(t *testing.T) {
	s1, _ := newStore(t)
	s2 := &Store{Dir: s1.Dir}
	for i := range 100 {
		if err := s1.Save("p", map[string]string{"endpoint": "h"}); err != nil {
			t.Fatal(err)
		}
		var useErr, delErr error
		both(func() { useErr = s1.Use("p") }, func() { delErr = s2.Delete("p") })
		if delErr != nil {
			t.Fatalf("round %d: delete: %v", i, delErr)
		}
		cur, err := s1.Current()
		if err != nil {
			t.Fatal(err)
		}
		if cur == "p" {
			t.Fatalf("round %d: current names deleted profile p (use: %v)", i, useErr)
		}
	}
}

// TestLockHeld: a writer that cannot get the lock gives up after
// LockTimeout with an error naming the lock file; once it is free, writes
// work again.
func TestLockHeld(t *testing.T) {
	s1, _ := newStore(t)
	release, err := s1.lock()
	if err != nil {
		t.Fatal(err)
	}
	s2 := &Store{Dir: s1.Dir, LockTimeout: 50 * time.Millisecond}
	_, err = s2.Set("p", map[string]string{"port": "1"})
	if err == nil || !strings.Contains(err.Error(), s1.lockPath()) || !strings.Contains(err.Error(), "try again") {
		t.Errorf("while locked: %v", err)
	}
	release()
	if _, err := s2.Set("p", map[string]string{"port": "1"}); err != nil {
		t.Errorf("after release: %v", err)
	}
}

// TestNotWritable: a store folder that cannot be written is a usage error
// naming the folder and what to do, whatever the reason.
func TestNotWritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	homes := []string{file, filepath.Join(file, "sub")}
	if _, err := os.Stat("/proc/self"); err == nil {
		homes = append(homes, "/proc/iotctl-test") // mkdir: ENOENT, even for root
	}
	for _, home := range homes {
		s := &Store{Dir: home}
		_, err := s.Set("p", map[string]string{"port": "1"})
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), home) || !strings.Contains(err.Error(), "set IOTCTL_HOME to a writable folder") {
			t.Errorf("IOTCTL_HOME=%s: %v (kind %v)", home, err, errs.KindOf(err))
		}
	}
	s := &Store{Dir: "/ro"}
	for _, cause := range []error{syscall.EROFS, syscall.EACCES, syscall.EPERM, syscall.ENOTDIR} {
		err := s.writeErr(&fs.PathError{Op: "chmod", Path: "/ro", Err: cause})
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "cannot write the profile folder /ro: chmod /ro: ") {
			t.Errorf("%v: %v", cause, err)
		}
	}
	if err := s.writeErr(&fs.PathError{Op: "write", Path: "/ro/x", Err: syscall.ENOSPC}); errs.KindOf(err) != errs.Unexpected {
		t.Errorf("disk full is not the user's setting: %v", err)
	}
}
