package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWriteReplacesPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	path := filepath.Join(dir, "f")
	for _, content := range []string{"one\n", "two\n"} {
		if err := Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
}

// TestWriteFailureKeepsOldFile: a write that fails half-way (the disk
// filled up before the sync) leaves the old content and no temp file.
func TestWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev.yaml")
	if err := Write(path, []byte("old\n")); err != nil {
		t.Fatal(err)
	}
	fsync = func(*os.File) error { return errors.New("disk full") }
	t.Cleanup(func() { fsync = (*os.File).Sync })

	if err := Write(path, []byte("new\n")); err == nil || err.Error() != "disk full" {
		t.Fatalf("Write with a failing fsync: err = %v, want disk full", err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "old\n" {
		t.Errorf("failed write changed the file: %q, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("temp files left behind: %v", names)
	}
}

// TestWriteFileNoReplace: an existing file, or a symlink even to nowhere,
// is never replaced, and no temp file stays; a free name is written 0600.
func TestWriteFileNoReplace(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{existing}
	if runtime.GOOS != "windows" {
		dangling := filepath.Join(dir, "dangling")
		if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, dangling)
	}
	for _, p := range paths {
		err := WriteFile(p, []byte("new\n"), Options{NoReplace: true})
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("WriteFile(%s, NoReplace): err = %v, want fs.ErrExist", p, err)
		}
	}
	if got, _ := os.ReadFile(existing); string(got) != "keep\n" {
		t.Errorf("existing file changed: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("the symlink's target was created")
	}
	fresh := filepath.Join(dir, "fresh")
	if err := WriteFile(fresh, []byte("new\n"), Options{NoReplace: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fresh); string(got) != "new\n" {
		t.Errorf("fresh file: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(paths)+1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left: %v", names)
	}
}

// TestWriteFileKeepDir: the mode of a folder the user named is kept.
func TestWriteFileKeepDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "f"), []byte("x"), Options{KeepDir: true}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("folder mode %04o, want 0755 kept", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(dir, "f")); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %04o, want 0600", fi.Mode().Perm())
	}
}

// TestClaimAndRename is NoReplace without hard links.
func TestClaimAndRename(t *testing.T) {
	dir := t.TempDir()
	tmp, path := filepath.Join(dir, "tmp"), filepath.Join(dir, "f")
	for _, p := range []string{tmp, path} {
		if err := os.WriteFile(p, []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := claimAndRename(tmp, path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("claim of an existing name: %v", err)
	}
	os.Remove(path)
	if err := claimAndRename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != tmp {
		t.Errorf("content %q", got)
	}
}

// TestWriteReplacesSymlinkNotTarget: replacing a path that is a symlink
// replaces the link; the file it pointed to is left alone.
func TestWriteReplacesSymlinkNotTarget(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new\n"), Options{KeepDir: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "precious\n" {
		t.Errorf("the symlink's target was written: %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("link is still a symlink: %v", err)
	}
}
