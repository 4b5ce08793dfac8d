package sub

import (
	"io"

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
