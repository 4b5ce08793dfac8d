package bench

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal of cols columns: the master to read and
// the terminal to hand to the process.
func openPTY(t *testing.T, cols uint16) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// Progress on a real terminal: cursor movement only where the terminal
// can take it; plain lines with TERM=dumb or a width of 0; never a space
// at the end of a result line.
func TestProgressOnATerminal(t *testing.T) {
	bin := clitest.Lazy(t)
	tests := []struct {
		name   string
		term   string
		cols   uint16
		escape bool
	}{
		{"xterm", "xterm", 80, true},
		{"dumb", "dumb", 80, false},
		{"width 0", "xterm", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, tty := openPTY(t, tt.cols)
			defer master.Close()
			var stdout bytes.Buffer
			cmd := exec.Command(bin, "bench", "--duration", "2s", "--rate", "50")
			cmd.Env = clitest.Env(t.TempDir(), "TERM="+tt.term)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &stdout, tty
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			tty.Close()
			var stderr bytes.Buffer
			copied := make(chan struct{})
			go func() { _, _ = io.Copy(&stderr, master); close(copied) }()
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				if err != nil {
					t.Fatalf("bench: %v\n%s", err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("bench did not finish within 60 s")
			}
			<-copied // EIO once the process's end of the terminal closed
			got := stderr.String()
			if has := strings.Contains(got, "\x1b["); has != tt.escape {
				t.Errorf("escape codes on stderr: %v, want %v:\n%q", has, tt.escape, got)
			}
			if !tt.escape {
				if !strings.Contains(got, "iotctl: bench: ") || strings.Contains(got, "\r\r") {
					t.Errorf("no plain progress line:\n%q", got)
				}
				for _, l := range strings.Split(strings.ReplaceAll(got, "\r\n", "\n"), "\n") {
					if strings.HasSuffix(l, " ") || strings.Contains(l, "\r") {
						t.Errorf("stderr line with a trailing space or carriage return: %q", l)
					}
				}
			}
			if !strings.Contains(stdout.String(), "published") {
				t.Fatalf("no result on stdout:\n%s", stdout.String())
			}
			for _, l := range strings.Split(stdout.String(), "\n") {
				if strings.HasSuffix(l, " ") {
					t.Errorf("result line with a trailing space: %q", l)
				}
			}
		})
	}
}
