//go:build unix

package cmdutil

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// -f FIFO with no writer blocks in open(2): a signal (ctx) still ends the
// read at once, as interrupted (exit 130), not through the watchdog.
func TestReadFileFIFOInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := ReadFile(ctx, path, limits.Rules{MaxPayload: 1 << 20}, "")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if errs.KindOf(err) != errs.Interrupted {
			t.Fatalf("err = %v (kind %v), want interrupted", err, errs.KindOf(err))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ReadFile still blocked in open after the context ended")
	}
}
