package sub

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/session"
)

// binRun is the binary running in the background.
type binRun struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
}

func startBinary(t *testing.T, args ...string) *binRun {
	t.Helper()
	r := &binRun{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	r.cmd = exec.Command(clitest.Lazy(t), args...)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	r.cmd.Env = append(os.Environ(), "IOTCTL_VERBOSE=1")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

func (r *binRun) waitStderr(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(r.stderr.String(), s) {
		select {
		case <-r.stderr.changed:
		case <-r.done:
			t.Fatalf("exited before %q on stderr: %s", s, r.stderr.String())
		case <-deadline:
			t.Fatalf("no %q on stderr: %s", s, r.stderr.String())
		}
	}
}

func (r *binRun) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("iotctl did not exit; stderr: %s", r.stderr.String())
	}
	return r.cmd.ProcessState.ExitCode()
}

func TestBinaryExitCodesAndStdout(t *testing.T) {
	url := startBroker(t, &subHook{})
	closed := "127.0.0.1:" + strconv.Itoa(testpeer.FreePort(t))

	t.Run("0 messages only on stdout", func(t *testing.T) {
		r := startBinary(t, "sub", "--endpoint", url, "-t", "bin/a", "-q", "1", "-C", "3")
		r.waitStderr(t, "subscribed to bin/a")
		publish(t, url,
			&session.Message{Topic: "bin/a", Payload: []byte("one"), QoS: 1},
			&session.Message{Topic: "bin/a", Payload: []byte{0, 0xff, '\n'}, QoS: 1},
			&session.Message{Topic: "bin/a", Payload: []byte("three"), QoS: 1},
			&session.Message{Topic: "bin/a", Payload: []byte("four"), QoS: 1})
		if code := r.exitCode(t); code != 0 {
			t.Fatalf("exit %d: %s", code, r.stderr.String())
		}
		if got, want := r.stdout.String(), "one\n\x00\xff\n\nthree\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
	})
	t.Run("0 json lines", func(t *testing.T) {
		r := startBinary(t, "sub", "--endpoint", url, "-t", "bin/j", "-C", "2", "-o", "json")
		r.waitStderr(t, "subscribed to bin/j")
		publish(t, url, &session.Message{Topic: "bin/j", Payload: []byte("x")}, &session.Message{Topic: "bin/j", Payload: []byte{0xff}})
		if code := r.exitCode(t); code != 0 {
			t.Fatalf("exit %d: %s", code, r.stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("stdout %q", r.stdout.String())
		}
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("not JSON: %q", l)
			}
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"2 bad filter", []string{"--endpoint", closed, "-t", "a/#/b"}, 2, `iotctl: filter "a/#/b" has '#' in level 2 of 3`},
		{"2 aws slashes", []string{"--endpoint", closed, "--limits", "aws-iot", "-t", "a/b/c/d/e/f/g/h/i/j"}, 2, "has 9 slashes: AWS IoT allows at most 7"},
		{"2 no filter", []string{"--endpoint", closed}, 2, "no topic filter"},
		{"2 unknown flag", []string{"--endpoint", closed, "-t", "a", "--bogus"}, 2, "unknown flag"},
		{"3 closed port", []string{"--endpoint", closed, "-t", "a"}, 3, "iotctl: connect to"},
		{"4 refused", []string{"--endpoint", url, "-t", "forbidden/a"}, 4, "not authorized (0x87)"},
		{"5 timeout", []string{"--endpoint", url, "-t", "bin/none", "-W", "1"}, 5, "timed out after 1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startBinary(t, append([]string{"sub"}, tt.args...)...)
			if code := r.exitCode(t); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, r.stderr.String())
			}
			if r.stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", r.stdout.String())
			}
			if !strings.Contains(r.stderr.String(), tt.msg) {
				t.Errorf("stderr %q lacks %q", r.stderr.String(), tt.msg)
			}
		})
	}
	t.Run("130 SIGINT", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no SIGINT on Windows")
		}
		r := startBinary(t, "sub", "--endpoint", url, "-t", "bin/int", "-q", "1")
		r.waitStderr(t, "subscribed to bin/int")
		publish(t, url, &session.Message{Topic: "bin/int", Payload: []byte("kept"), QoS: 1})
		deadline := time.Now().Add(10 * time.Second)
		for r.stdout.String() != "kept\n" && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		r.cmd.Process.Signal(syscall.SIGINT)
		if code := r.exitCode(t); code != 130 {
			t.Fatalf("exit %d, want 130: %s", code, r.stderr.String())
		}
		if r.stdout.String() != "kept\n" {
			t.Errorf("stdout %q", r.stdout.String())
		}
		if !strings.Contains(r.stderr.String(), "interrupted") {
			t.Errorf("stderr %q", r.stderr.String())
		}
	})
}
