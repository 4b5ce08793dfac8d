package cmdutil

import (
	"fmt"
	"io"
	"sync"

	"github.com/iotctl/iotctl/pkg/esc"
)

// Warner returns the function that prints a warning line on w. A warning
// may carry a broker's or a proxy's text (a reason string, an HTTP body):
// control characters are escaped (pkg/esc), so it stays one line.
func Warner(w io.Writer) func(string) {
	return func(msg string) { _, _ = io.WriteString(w, "iotctl: warning: "+esc.String(msg)+"\n") }
}

// LockedWriter serialises writes from the session's goroutines and the
// command's own.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}

// Swap makes the writer write to w (a progress bar that prints lines
// above itself) and returns the former target.
func (l *LockedWriter) Swap(w io.Writer) io.Writer {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.W
	l.W = w
	return old
}

// Plural is "1 message", "3 messages".
func Plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
