// Package atomicfile writes private files so that a reader sees the old
// content or the new, never a part: the profile store and the broker's
// generated certificates use it.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// fsync is a variable so tests can make a write fail half-way.
var fsync = (*os.File).Sync

// Write writes data to a temp file beside path, syncs it, and
// renames it over path, so a failed write leaves the old file intact. The
// folder is created 0700 and the file is 0600.
func Write(path string, data []byte) error { return WriteFile(path, data, Options{}) }

// Options of WriteFile; the zero value is Write's behaviour.
type Options struct {
	// NoReplace: never replace a file (or symlink) at path, even one
	// another process creates meanwhile: the error then wraps fs.ErrExist.
	NoReplace bool
	// KeepDir leaves the mode of an existing folder alone (one the user
	// named); a missing one is still created 0700.
	KeepDir bool
}

// WriteFile is Write with options.
func WriteFile(path string, data []byte, o Options) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if !o.KeepDir {
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := fsync(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if o.NoReplace {
		// A hard link is created only where no name is: the check and the
		// creation are one step. The temp name goes away either way.
		err = os.Link(tmp, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			err = claimAndRename(tmp, path)
		}
		os.Remove(tmp)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// claimAndRename is NoReplace where hard links are not supported (FAT,
// some network file systems): the name is claimed by an exclusive create,
// then the temp file renamed over the claim.
func claimAndRename(tmp, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
