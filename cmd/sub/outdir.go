package sub

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/session"
)

// dirWriter is --out-dir: one file per message, DIR/<topic levels>/NNNNNN.msg.
//
// Every file operation goes through an os.Root, so neither a topic nor a
// symbolic link inside DIR reaches outside DIR. A file is written under a
// temporary name and renamed, so a reader never sees half a message. It runs
// in the session's handler: a message counts as written (and is
// acknowledged) only after its rename.
type dirWriter struct {
	name string // DIR as given, for errors
	root *os.Root
	fm   formatter // nil: the payload bytes alone

	scanned map[string]bool // folders whose existing files were counted
	next    map[string]int  // next sequence number, by folder in lower case
}

// openDir creates DIR (0700) if needed and opens it as the root of every
// file --out-dir writes.
func openDir(dir string, fm formatter) (*dirWriter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.Usagef("--out-dir %s: %w: give a folder iotctl can create and write", dir, unwrapPath(err))
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, errs.Usagef("--out-dir %s: %w: give a folder", dir, unwrapPath(err))
	}
	if isRaw(fm) {
		fm = nil
	}
	return &dirWriter{name: dir, root: root, fm: fm, scanned: map[string]bool{}, next: map[string]int{}}, nil
}

func (d *dirWriter) Close() error { return d.root.Close() }

// write writes m to a new file of its topic's folder.
func (d *dirWriter) write(m *session.Message, at time.Time) error {
	if err := d.writeFile(m, at); err != nil {
		return fmt.Errorf("--out-dir %s: the message on %s: %w", d.name, esc.String(m.Topic), err)
	}
	return nil
}

func (d *dirWriter) writeFile(m *session.Message, at time.Time) error {
	data := m.Payload
	if d.fm != nil {
		var err error
		if data, err = d.fm.format(nil, m, at); err != nil {
			return err
		}
	}
	folder := topicPath(m.Topic)
	osFolder := filepath.FromSlash(folder)
	if err := d.root.MkdirAll(osFolder, 0o700); err != nil {
		return err
	}
	seq, err := d.seq(folder)
	if err != nil {
		return err
	}
	name := messageName(seq)
	tmp := filepath.Join(osFolder, "."+name+".tmp")
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(tmp, filepath.Join(osFolder, name))
	}
	if err != nil {
		_ = d.root.Remove(tmp)
	}
	return err
}

// seq is the next free sequence number of folder: after the highest one
// already there (from an earlier run), then counting up. Folders that
// differ in case only share one counter, so on a case-insensitive file
// system (macOS, Windows) topics a/B and a/b never overwrite each other.
func (d *dirWriter) seq(folder string) (int, error) {
	key := strings.ToLower(folder)
	if !d.scanned[folder] {
		entries, err := fs.ReadDir(d.root.FS(), folder)
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			if n, ok := messageSeq(e.Name()); ok && n >= d.next[key] {
				d.next[key] = n + 1
			}
		}
		d.scanned[folder] = true
	}
	for {
		n := max(d.next[key], 1)
		d.next[key] = n + 1
		// Another writer may have taken it: never overwrite a message.
		_, err := d.root.Lstat(filepath.Join(filepath.FromSlash(folder), messageName(n)))
		if errors.Is(err, fs.ErrNotExist) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func messageName(n int) string { return fmt.Sprintf("%06d.msg", n) }

// messageSeq parses a message file name: digits, then ".msg".
func messageSeq(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, ".msg")
	if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// topicPath is the folder, relative to DIR and slash-separated, of a
// topic's messages: one escaped folder name per topic level. A topic may
// be 65,535 bytes; a path given to the OS may not (4,096 on Linux, less
// elsewhere): when the folders would pass maxFolderPath, the levels that
// do not fit are one folder %~ and a hash of the whole topic, so topics
// that share the first levels still get folders of their own.
func topicPath(topic string) string {
	levels := strings.Split(topic, "/")
	n := 0
	for i, l := range levels {
		e := escapeLevel(l)
		if n+len(e)+1 > maxFolderPath-hashedLevel {
			sum := sha256.Sum256([]byte(topic))
			return path.Join(append(levels[:i:i], "%~"+hex.EncodeToString(sum[:8]))...)
		}
		levels[i] = e
		n += len(e) + 1
	}
	return path.Join(levels...)
}

const (
	// maxFolderPath bounds a topic's folder under DIR, in bytes.
	maxFolderPath = 1024
	hashedLevel   = 2 + 16 + 1 // "%~", 16 hex digits, "/"
)

// maxLevelName bounds an escaped level (file systems allow 255 bytes).
const maxLevelName = 200

// escapeLevel makes one topic level a safe folder name, the same on every
// OS, so a folder can be copied anywhere. Different levels always give
// different names (the escape character % is itself escaped), and nothing
// is dropped:
//   - % / \ : * ? " < > | and control characters are written %XX (hex);
//   - a trailing dot or space is %2E or %20 (Windows drops them), which
//     also turns "." and ".." into ".%2E"-style names that go nowhere;
//   - Windows device names (CON, NUL, COM1, LPT1, … with any extension)
//     get their first letter escaped, e.g. %4EUL;
//   - a level that looks like a message file (000001.msg) gets its dots
//     escaped, so levels and messages never clash;
//   - an empty level (a//b, /a) is the folder %;
//   - a name over 200 bytes is cut and ends with %~ and a hash of the level.
func escapeLevel(l string) string {
	if l == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		c := l[i]
		last := i == len(l)-1
		if c < 0x20 || c == 0x7f || strings.IndexByte(`%/\:*?"<>|`, c) >= 0 || (last && (c == '.' || c == ' ')) {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	if isDeviceName(s) {
		s = fmt.Sprintf("%%%02X", s[0]) + s[1:]
	}
	if _, ok := messageSeq(strings.TrimPrefix(strings.TrimSuffix(s, ".tmp"), ".")); ok {
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	if len(s) > maxLevelName {
		cut := maxLevelName - 40
		for cut > 0 && (!utf8.RuneStart(s[cut]) || strings.LastIndexByte(s[max(cut-2, 0):cut], '%') >= 0) {
			cut--
		}
		sum := sha256.Sum256([]byte(l))
		s = s[:cut] + "%~" + hex.EncodeToString(sum[:8])
	}
	return s
}

// isDeviceName reports a Windows reserved device name, with or without an
// extension, in any case.
func isDeviceName(s string) bool {
	base, _, _ := strings.Cut(s, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		return base[3] >= '0' && base[3] <= '9'
	}
	if len(base) > 3 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		switch base[3:] {
		case "¹", "²", "³":
			return true
		}
	}
	return false
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
