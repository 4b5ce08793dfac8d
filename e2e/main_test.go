// Package e2e drives the iotctl binary against the embedded broker's AWS
// IoT Core emulation (pkg/broker/iot), one test per authentication method:
// iotctl pub → emulator → iotctl sub delivers, and a wrong secret is
// refused with the documented exit code. Real peers: SoftHSM2 for PKCS#11,
// tinyproxy for proxies; AWS HTTP APIs come from internal/awsfake.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
)

// iotctlBin is the binary under test, built once by TestMain.
var iotctlBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "iotctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	iotctlBin, err = clitest.BuildWith(dir, clitest.BuildOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build iotctl: %v\n", err)
		return 1
	}
	return m.Run()
}

// wait bounds every wait for a process or an event; generous for a loaded
// machine, never part of an assertion.
const wait = 60 * time.Second

// proc is a running iotctl.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	code           int
}

// iotctl starts the binary with a clean environment (see baseEnv) plus env.
func iotctl(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, iotctlBin, args...)
	p.cmd.Env = append(baseEnv(t), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the exit and returns the exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Fatalf("iotctl %s did not exit within %s\nstderr: %s", strings.Join(p.args, " "), wait, p.stderr.String())
	}
	return p.code
}

// expect waits for the exit and fails unless the code is one of want.
func (p *proc) expect(t *testing.T, want ...int) {
	t.Helper()
	code := p.wait(t)
	for _, w := range want {
		if code == w {
			return
		}
	}
	t.Errorf("iotctl %s: exit %d, want %v\nstdout: %s\nstderr: %s", strings.Join(p.args, " "), code, want, p.stdout.String(), p.stderr.String())
}

// run runs iotctl to the end and checks its exit code.
func run(t *testing.T, env []string, want int, args ...string) *proc {
	t.Helper()
	p := iotctl(t, env, args...)
	p.expect(t, want)
	return p
}

// baseEnv keeps the user's environment, profiles and AWS configuration
// out of the test: a private HOME and IOTCTL_HOME, no AWS files, no IMDS.
func baseEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"IOTCTL_HOME=" + filepath.Join(home, ".iotctl"),
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"SYSTEMROOT=" + os.Getenv("SYSTEMROOT"),
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// awaitMatch waits until the text matches re and returns the submatches,
// failing early when p exits.
func (s *syncBuffer) awaitMatch(t *testing.T, p *proc, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(wait)
	for {
		s.mu.Lock()
		m := re.FindStringSubmatch(s.b.String())
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-ch:
		case <-p.done:
			t.Fatalf("iotctl %s exited %d before printing %s\nstderr: %s", strings.Join(p.args, " "), p.code, re, p.stderr.String())
		case <-deadline:
			t.Fatalf("iotctl %s did not print %s within %s", strings.Join(p.args, " "), re, wait)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
