package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/clitest"
)

// binary is iotctl built once, stamped like a release build.
var binary string

const (
	stampVersion = "v9.9.9"
	stampCommit  = "0123456789abcdef0123456789abcdef01234567"
	stampDate    = "2026-01-02T03:04:05Z"
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "iotctl-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pkg := "github.com/iotctl/iotctl/internal/build"
	ldflags := fmt.Sprintf("-X %s.Version=%s -X %s.Commit=%s -X %s.Date=%s", pkg, stampVersion, pkg, stampCommit, pkg, stampDate)
	binary, err = clitest.BuildWith(dir, clitest.BuildOptions{LDFlags: ldflags})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

type result struct {
	code        int
	out, errOut string
}

// iotctl runs the binary with a private IOTCTL_HOME, no inherited IOTCTL_*
// variables, and extra "NAME=value" environment entries.
func iotctl(t *testing.T, home string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "IOTCTL_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "IOTCTL_HOME="+home)
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errOut.String()}
}

func TestUsageErrorsExit2WithOneLine(t *testing.T) {
	home := t.TempDir()
	if r := iotctl(t, home, nil, "profile", "set", "dev", "endpoint=h"); r.code != 0 {
		t.Fatalf("set: %d %s", r.code, r.errOut)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string // in the message
	}{
		{"unknown flag", nil, []string{"profile", "list", "--bogus"}, "unknown flag: --bogus"},
		{"unknown flag on root", nil, []string{"--bogus"}, "unknown flag: --bogus"},
		{"unknown command", nil, []string{"bogus"}, `unknown command "bogus"`},
		{"unknown profile subcommand", nil, []string{"profile", "bogus"}, `unknown command "bogus"`},
		{"missing profile name", nil, []string{"profile", "use"}, "give the profile name"},
		{"bad auth", nil, []string{"profile", "validate", "--auth", "bogus"}, `invalid value "bogus" for auth`},
		{"bad output", nil, []string{"-o", "xml", "profile", "show"}, `invalid value "xml" for output`},
		{"bad limits", nil, []string{"whoami", "--limits", "x"}, `invalid value "x" for limits`},
		{"bad duration flag", nil, []string{"sub", "--keepalive", "soon", "-t", "a"}, `"soon"`},
		{"bad duration env", []string{"IOTCTL_KEEPALIVE=soon"}, []string{"profile", "show"}, "IOTCTL_KEEPALIVE"},
		{"bad int", nil, []string{"pub", "--port", "eighty", "-t", "a", "-m", "x"}, `"eighty"`},
		{"bad enum env", []string{"IOTCTL_AUTH=bogus"}, []string{"profile", "show"}, "IOTCTL_AUTH"},
		{"unknown profile", nil, []string{"--profile", "nope", "profile", "show"}, "known profiles: dev"},
		{"unknown profile env", []string{"IOTCTL_PROFILE=nope"}, []string{"profile", "show"}, "known profiles: dev"},
		{"unknown key", nil, []string{"profile", "set", "dev", "enpoint=x"}, `did you mean "endpoint"`},
		{"unknown help topic", nil, []string{"help", "bogus"}, "unknown help topic"},
		{"connection flag on broker", nil, []string{"broker", "--cert", "x"}, "unknown flag: --cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := iotctl(t, home, tt.env, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", r.code, r.errOut)
			}
			if r.out != "" {
				t.Errorf("stdout %q, want nothing", r.out)
			}
			lines := strings.Split(strings.TrimSuffix(r.errOut, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "iotctl: ") || !strings.HasSuffix(r.errOut, "\n") {
				t.Errorf("stderr %q, want one line starting 'iotctl: '", r.errOut)
			}
			if !strings.Contains(r.errOut, tt.want) {
				t.Errorf("stderr %q lacks %q", r.errOut, tt.want)
			}
		})
	}
}

func TestUnderscoreSpellings(t *testing.T) {
	// whoami lists the settings given with their sources; the CA file does
	// not exist, which it reports after the settings (exit 2).
	r := iotctl(t, t.TempDir(), nil, "whoami", "--offline", "-o", "json", "--ca_file", "/tmp/nonexistent-ca.pem", "--client_id", "test-1", "--port_override", "8883",
		"--session_expiry", "1h")
	var got struct {
		Settings []struct {
			Name, Source string
			Value        any // numbers as numbers, durations as strings
		}
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ca-file": "/tmp/nonexistent-ca.pem", "client-id": "test-1", "port": "8883", "session-expiry": "1h"}
	for _, s := range got.Settings {
		if w, ok := want[s.Name]; ok {
			if v := fmt.Sprint(s.Value); v != w || s.Source != "flag" {
				t.Errorf("%s = %q from %s, want %q from flag", s.Name, v, s.Source, w)
			}
			delete(want, s.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing: %v", want)
	}
}

func TestVersion(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := iotctl(t, home, nil, args...)
		if r.code != 0 || r.errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.errOut)
		}
		for _, want := range []string{"iotctl " + stampVersion, stampCommit, stampDate} {
			if !strings.Contains(r.out, want) {
				t.Errorf("%v: %q lacks %q", args, r.out, want)
			}
		}
	}
	r := iotctl(t, home, nil, "version", "-o", "json")
	var v struct{ Version, Commit, Date string }
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || v.Version != stampVersion || v.Commit != stampCommit || v.Date != stampDate {
		t.Errorf("version -o json: %v %s", err, r.out)
	}
}

func TestHelpExitsZero(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{{"help", "exit-codes"}, {"help", "environment"}, {"help", "profiles"}, {"--help"}, {"profile", "--help"}} {
		r := iotctl(t, home, nil, args...)
		if r.code != 0 || r.out == "" || r.errOut != "" {
			t.Errorf("%v: exit %d, %d bytes out, stderr %q", args, r.code, len(r.out), r.errOut)
		}
	}
}

// Completion scripts come from the binary as they are committed.
func TestCompletionCommandMatchesCommittedScripts(t *testing.T) {
	home := t.TempDir()
	for shell, file := range map[string]string{"bash": "iotctl.bash", "zsh": "iotctl.zsh", "fish": "iotctl.fish", "powershell": "iotctl.ps1"} {
		r := iotctl(t, home, nil, "completion", shell)
		if r.code != 0 {
			t.Fatalf("completion %s: %d %s", shell, r.code, r.errOut)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "completions", file))
		if err != nil {
			t.Fatal(err)
		}
		if r.out != string(want) {
			t.Errorf("completion %s differs from completions/%s: run 'go generate ./...'", shell, file)
		}
	}
}
