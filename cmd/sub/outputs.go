package sub

import (
	"fmt"
	"io"
	"os"

	"github.com/iotctl/iotctl/pkg/errs"
)

// outputs opens --out-file and --out-dir before connecting (a bad path is
// exit 2) and returns the writer the batches go to, the per-message writer
// of --out-dir (nil without it) and what closes them at the end.
func (o *Options) outputs(fm formatter) (io.Writer, *dirWriter, func(), error) {
	if o.Quiet && o.OutFile == "" && o.OutDir == "" {
		return nil, nil, nil, errs.Usagef("--quiet prints nothing on stdout: give --out-file FILE or --out-dir DIR for the messages to go somewhere")
	}
	var w io.Writer = o.IO.Out
	if o.Quiet {
		w = io.Discard
	}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	if o.OutFile != "" {
		f, err := openOutFile(o.OutFile, endsLines(fm))
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, f)
		if o.Quiet {
			w = f
		} else {
			// The file first: stdout failing later (a closed pipe) leaves
			// the batch in the file, unacknowledged; a duplicate at worst.
			w = io.MultiWriter(f, w)
		}
	}
	var dir *dirWriter
	if o.OutDir != "" {
		var err error
		if dir, err = openDir(o.OutDir, fm); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		closers = append(closers, dir)
	}
	return w, dir, closeAll, nil
}

// openOutFile opens --out-file for appending, creating it 0600: payloads
// can hold secrets, and an existing file keeps its mode. When the format
// ends each message with a newline and the file does not end with one (a
// batch torn by a kill, or the file's own last line), a newline is added
// first, so the next message starts on a line of its own.
func openOutFile(name string, lines bool) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, errs.Usagef("--out-file %s: %v: give a file iotctl can create or append to", name, unwrapPath(err))
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		f.Close()
		return nil, errs.Usagef("--out-file %s: is a directory: give a file (or --out-dir for one file per message)", name)
	}
	if lines && err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && !endsWithNewline(name, fi.Size()) {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return nil, errs.New(errs.Output, fmt.Errorf("--out-file %s: %w", name, err))
		}
	}
	return f, nil
}

// endsWithNewline reports whether the file's last byte is a newline (true
// when it cannot be read: then nothing is added).
func endsWithNewline(name string, size int64) bool {
	r, err := os.Open(name)
	if err != nil {
		return true
	}
	defer r.Close()
	b := make([]byte, 1)
	if _, err := r.ReadAt(b, size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

// endsLines reports whether fm ends every message with a newline.
func endsLines(fm formatter) bool {
	switch f := fm.(type) {
	case jsonFormat:
		return true
	case rawFormat:
		return f.newline
	case templateFormat:
		return f.newline
	}
	return false
}
