package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// maxRead is how much of an input larger than the payload limit is read
// before it is refused: the limit and one byte more.
func maxRead(r limits.Rules) int { return r.MaxPayload + 1 }

// ReadFile reads -f FILE: a regular file larger than the payload limit is
// refused from its size, anything else (a FIFO, /dev/zero, a socket) is
// read up to the limit and one byte, so no input costs more memory than
// the largest message.
// hint ends the error of an input over the limit: what to do.
func ReadFile(ctx context.Context, path string, r limits.Rules, hint string) ([]byte, error) {
	f, err := openFile(ctx, path)
	if err != nil {
		if errs.KindOf(err) == errs.Interrupted {
			return nil, fmt.Errorf("-f %s: %w", path, err)
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, errs.Usagef("-f %s: %v", path, err)
	}
	defer f.Close()
	size := -1
	if fi, err := f.Stat(); err == nil {
		switch {
		case fi.IsDir():
			return nil, errs.Usagef("-f %s: is a directory: give a file", path)
		case fi.Mode().IsRegular() && fi.Size() > int64(r.MaxPayload):
			return nil, fmt.Errorf("-f %s: %w: %s", path, r.Payload(int(min(fi.Size(), 1<<40))), hint)
		case fi.Mode().IsRegular():
			size = int(fi.Size())
		}
	}
	data, err := ReadInput(ctx, f, size, r, hint)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", path, err)
	}
	return data, nil
}

// openFile opens path aside, so that a signal ends pub at once even when
// the open blocks (a FIFO nobody writes to yet).
func openFile(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	res := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		res <- opened{f, err}
	}()
	select {
	case o := <-res:
		return o.f, o.err
	case <-ctx.Done():
		go func() { // close it if the open ever returns
			if o := <-res; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, errs.New(errs.Interrupted, errors.New("interrupted while opening the input"))
	}
}

// ReadInput reads all of in, but at most the payload limit and one byte:
// more is refused (a usage error naming the limit). The read runs aside so
// that SIGINT/SIGTERM end pub at once even while the input blocks; then
// it returns an Interrupted error. size, when known (>= 0), sizes the buffer.
func ReadInput(ctx context.Context, in io.Reader, size int, r limits.Rules, hint string) ([]byte, error) {
	limit := maxRead(r)
	type result struct {
		data []byte
		over bool // more than the payload limit
		err  error
	}
	var stop atomic.Bool
	res := make(chan result, 1)
	go func() {
		// Chunks, joined at the end: no copying while reading, and an
		// input refused for its size never costs more than limit bytes.
		var chunks [][]byte
		total := 0
		next := min(max(size+1, 512), limit)
		for total < limit {
			if stop.Load() {
				res <- result{err: context.Canceled}
				return
			}
			chunk := make([]byte, min(next, limit-total))
			n, err := io.ReadFull(in, chunk)
			chunks = append(chunks, chunk[:n])
			total += n
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				res <- result{err: errs.Usagef("read: %v", err)}
				return
			}
			next = min(2*next, 4<<20)
		}
		if total >= limit {
			res <- result{over: true}
			return
		}
		if len(chunks) == 1 {
			res <- result{data: chunks[0]}
			return
		}
		data := make([]byte, 0, total)
		for _, c := range chunks {
			data = append(data, c...)
		}
		res <- result{data: data}
	}()
	select {
	case <-ctx.Done():
		stop.Store(true)
		return nil, errs.New(errs.Interrupted, errors.New("interrupted while reading the input"))
	case rr := <-res:
		if rr.err != nil {
			return nil, rr.err
		}
		if rr.over {
			return nil, fmt.Errorf("%w: %s", r.PayloadOver(r.MaxPayload), hint)
		}
		return rr.data, nil
	}
}
