package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// The committed scripts are what the command tree generates now. When this
// fails after a command or flag changed, run 'go generate ./...'.
func TestCommittedScriptsAreFresh(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	dir := t.TempDir()
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	for _, s := range Scripts {
		got, err := os.ReadFile(filepath.Join(dir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "completions", s.File))
		if err != nil {
			t.Fatalf("%v: run 'go generate ./...'", err)
		}
		if string(got) != string(want) {
			t.Errorf("completions/%s is stale: run 'go generate ./...'", s.File)
		}
	}
}

func TestScriptsParse(t *testing.T) {
	for _, c := range []struct{ shell, file string }{
		{"bash", "iotctl.bash"},
		{"zsh", "iotctl.zsh"},
		{"fish", "iotctl.fish"},
	} {
		path, err := exec.LookPath(c.shell)
		if err != nil {
			if c.shell == "bash" && runtime.GOOS != "windows" {
				t.Errorf("bash not found: %v", err)
			}
			continue // zsh and fish are checked where installed
		}
		args := []string{"-n", filepath.Join("..", "..", "completions", c.file)}
		if c.shell == "fish" {
			args[0] = "--no-execute"
		}
		if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
			t.Errorf("%s %v: %v\n%s", c.shell, args, err, out)
		}
	}
}
