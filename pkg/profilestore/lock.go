package profilestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
)

// DefaultLockTimeout bounds the wait for another iotctl's profile update.
const DefaultLockTimeout = 10 * time.Second

func (s *Store) lockPath() string { return filepath.Join(s.Dir, ".lock") }

// locked runs fn, a read-modify-write of the store, holding the store's
// lock file, so two iotctl processes changing profiles at once (profile set
// in two shells, or a script's parallel jobs) never lose an update. Readers
// need no lock: every write is an atomic rename.
func (s *Store) locked(fn func() error) error {
	release, err := s.lock()
	if err != nil {
		return s.writeErr(err)
	}
	defer release()
	return s.writeErr(fn())
}

// lock creates the store's folders and takes an exclusive lock (flock on
// Unix, LockFileEx on Windows) on <dir>/.lock. The file is never removed:
// removing a lock file lets two processes lock two different files. A
// process that dies releases its lock with its descriptors.
func (s *Store) lock() (release func(), err error) {
	if err := s.ensureDirs(); err != nil {
		return nil, err
	}
	path := s.lockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	timeout := s.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	deadline := time.Now().Add(timeout)
	// Polling, not a blocking lock, so a stuck holder gives an error that
	// says what is wrong instead of a hang.
	wait := time.Millisecond
	for {
		busy, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !busy {
			break
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another iotctl has held the profile lock %s for over %s: let it finish and try again", path, timeout)
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
	return func() {
		_ = unlock(f)
		f.Close()
	}, nil
}

// writeErr turns a failure to write the store's folder that the user must
// fix (a read-only file system, no permission, a file where a folder should
// be) into a usage error that names the folder and what to do.
func (s *Store) writeErr(err error) error {
	if err == nil || !notWritable(err) {
		return err
	}
	return errs.Usagef("cannot write the profile folder %s: %w: set IOTCTL_HOME to a writable folder, or fix the permissions of %s", s.Dir, err, s.Dir)
}

// readErr explains a profile folder that cannot be read because it is a
// file, or not readable by the user.
func (s *Store) readErr(err error) error {
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return errs.Usagef("the profile folder %s is not a folder: %w: set IOTCTL_HOME to a folder", s.Dir, err)
	case errors.Is(err, fs.ErrPermission):
		return errs.Usagef("cannot read the profile folder %s: %w: set IOTCTL_HOME to a folder of yours, or fix the permissions of %s", s.Dir, err, s.Dir)
	}
	return err
}

func notWritable(err error) bool {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOTDIR):
		return true
	case errors.As(err, &pe) && pe.Op == "mkdir" && errors.Is(err, fs.ErrNotExist):
		// /proc and the like refuse new entries with ENOENT.
		return true
	}
	return false
}
