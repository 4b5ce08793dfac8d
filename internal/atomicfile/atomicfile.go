// Package atomicfile writes private files so that a reader sees the old
// content or the new, never a part: the profile store and the broker's
// generated certificates use it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// fsync is a variable so tests can make a write fail half-way.
var fsync = (*os.File).Sync

// Write writes data to a temp file beside path, syncs it, and
// renames it over path, so a failed write leaves the old file intact. The
// folder is created 0700 and the file is 0600.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
