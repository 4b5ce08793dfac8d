// Package clitest builds and runs the iotctl binary for the tests that
// need the real process (tests/, e2e, cmd/iotctl, cmd/sub): it builds the
// binary once per test package (with -race when the tests run under -race,
// unless told otherwise), runs it with a private, clean environment, and
// watches its output. It is the one place tests build iotctl.
package clitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the iotctl binary Main built.
var Binary string

// Main builds iotctl into a temporary folder, runs the tests and removes
// the folder. Use it as TestMain: os.Exit(clitest.Main(m)).
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "iotctl-clitest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Build builds ./cmd/iotctl into dir (with -race under -race) and sets
// Binary.
func Build(dir string) error {
	bin, err := BuildWith(dir, BuildOptions{Race: Race})
	if err != nil {
		return err
	}
	Binary = bin
	return nil
}

// BuildOptions change how BuildWith builds.
type BuildOptions struct {
	// Race builds with the race detector.
	Race bool
	// LDFlags are go build's -ldflags (e.g. -X stamps of internal/build).
	LDFlags string
}

// BuildWith builds ./cmd/iotctl into dir and returns the binary's path.
func BuildWith(dir string, o BuildOptions) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "iotctl")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	args := []string{"build", "-o", bin}
	if o.Race {
		args = append(args, "-race")
	}
	if o.LDFlags != "" {
		args = append(args, "-ldflags", o.LDFlags)
	}
	args = append(args, "./cmd/iotctl")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

var (
	lazyOnce sync.Once
	lazyBin  string
	lazyErr  error
)

// Lazy builds the binary (without -race) the first time a test of the
// package asks for it, into a folder that outlives the tests (the system's
// temporary folder cleans it), for packages that need it in a few tests
// only and have no TestMain.
func Lazy(t testing.TB) string {
	t.Helper()
	lazyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "iotctl-clitest-lazy-")
		if err != nil {
			lazyErr = err
			return
		}
		lazyBin, lazyErr = BuildWith(dir, BuildOptions{})
	})
	if lazyErr != nil {
		t.Fatalf("build iotctl: %v", lazyErr)
	}
	return lazyBin
}

// ModuleRoot is the folder holding go.mod, found upwards from the working
// directory (a test's package folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Env is a clean environment for the binary: the process's environment
// without IOTCTL_*, AWS_* and proxy variables, with home as HOME, the
// iotctl home in home/.iotctl, AWS files under home/.aws (usually absent)
// the EC2 metadata lookup off (it would leave the loopback range) and a
// short race-detector exit delay, then extra "NAME=value" entries.
func Env(home string, extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		up := strings.ToUpper(name)
		switch {
		case strings.HasPrefix(up, "IOTCTL_"), strings.HasPrefix(up, "AWS_"),
			up == "HOME", up == "HTTP_PROXY", up == "HTTPS_PROXY", up == "ALL_PROXY", up == "NO_PROXY",
			up == "SOFTHSM2_CONF":
			continue
		}
		env = append(env, e)
	}
	env = append(env,
		"HOME="+home,
		"IOTCTL_HOME="+filepath.Join(home, ".iotctl"),
		"AWS_CONFIG_FILE="+filepath.Join(home, ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, ".aws", "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	)
	if os.Getenv("GORACE") == "" {
		// A -race binary sleeps 1s at exit by default so late race reports
		// get printed; hundreds of short runs cannot afford that.
		env = append(env, "GORACE=atexit_sleep_ms=50")
	}
	return append(env, extra...)
}

// Result is a finished run.
type Result struct {
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
}

// Opts configure a run. Zero values: an empty stdin, Env(t.TempDir()).
type Opts struct {
	Args  []string
	Env   []string      // full environment; nil: Env(t.TempDir())
	Stdin io.Reader     // nil: empty
	Dir   string        // working directory; "": the test's
	Limit time.Duration // kill after this long; 0: 60s
	// Stdout replaces the captured stdout (an *os.File is handed to the
	// process as is, so a pipe gives real back-pressure).
	Stdout io.Writer
}

// Run runs the binary to the end.
func Run(t testing.TB, o Opts) Result {
	t.Helper()
	p := Start(t, o)
	code := p.Wait(t, o.Limit)
	return Result{Code: code, Stdout: p.Stdout.String(), Stderr: p.Stderr.String(), Elapsed: p.Elapsed()}
}

// Proc is the binary running in the background; it is killed when the test
// ends, if still running.
type Proc struct {
	Cmd            *exec.Cmd
	Stdout, Stderr *Buffer
	start          time.Time
	end            time.Time
	done           chan struct{}
}

// Start starts the binary.
func Start(t testing.TB, o Opts) *Proc {
	t.Helper()
	if Binary == "" {
		t.Fatal("clitest: the binary was not built: call clitest.Main from TestMain")
	}
	p := &Proc{Stdout: NewBuffer(), Stderr: NewBuffer(), done: make(chan struct{})}
	p.Cmd = exec.Command(Binary, o.Args...)
	p.Cmd.Env = o.Env
	if p.Cmd.Env == nil {
		p.Cmd.Env = Env(t.TempDir())
	}
	p.Cmd.Dir = o.Dir
	p.Cmd.Stdin = o.Stdin
	if p.Cmd.Stdin == nil {
		p.Cmd.Stdin = strings.NewReader("")
	}
	p.Cmd.Stdout = p.Stdout
	if o.Stdout != nil {
		p.Cmd.Stdout = o.Stdout
	}
	p.Cmd.Stderr = p.Stderr
	p.start = time.Now()
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start iotctl: %v", err)
	}
	go func() {
		_ = p.Cmd.Wait()
		p.end = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Elapsed is the run time so far, or until exit.
func (p *Proc) Elapsed() time.Duration {
	select {
	case <-p.done:
		return p.end.Sub(p.start)
	default:
		return time.Since(p.start)
	}
}

// Wait waits for the exit (killing the process after limit, 60s when 0)
// and returns the exit code; a kill fails the test.
func (p *Proc) Wait(t testing.TB, limit time.Duration) int {
	t.Helper()
	if limit <= 0 {
		limit = 60 * time.Second
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.Cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump on stderr
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		t.Fatalf("iotctl %s did not exit within %s\nstderr (tail): %s", strings.Join(p.Cmd.Args[1:], " "), limit, Tail(p.Stderr.String(), 60))
	}
	return p.Cmd.ProcessState.ExitCode()
}

// WaitStderr waits until stderr contains s; it fails the test when the
// process exits first or after limit.
func (p *Proc) WaitStderr(t testing.TB, s string, limit time.Duration) {
	t.Helper()
	if !p.Stderr.WaitFor(func(text string) bool { return strings.Contains(text, s) }, limit, p.done) {
		t.Fatalf("no %q on iotctl's stderr within %s (exited: %t)\nstderr (tail): %s", s, limit, p.Exited(), Tail(p.Stderr.String(), 40))
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Buffer is a concurrency-safe bytes.Buffer whose readers can wait for
// what they expect.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// NewBuffer returns an empty Buffer.
func NewBuffer() *Buffer { return &Buffer{changed: make(chan struct{})} }

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.b.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Len is the number of bytes written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

// WaitFor waits until cond holds for the text written so far, or until
// limit passes or stop is closed (then it checks once more).
func (b *Buffer) WaitFor(cond func(string) bool, limit time.Duration, stop <-chan struct{}) bool {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		b.mu.Lock()
		text, ch := b.b.String(), b.changed
		b.mu.Unlock()
		if cond(text) {
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return cond(b.String())
		case <-timer.C:
			return cond(b.String())
		}
	}
}
