package jobs

import (
	"strings"
	"sync"
)

// tail keeps the last bytes written to it (a command's stderr).
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// lines is the last n lines, without the final line break.
func (t *tail) lines(n int) string {
	t.mu.Lock()
	s := strings.TrimRight(string(t.b), "\r\n")
	t.mu.Unlock()
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
