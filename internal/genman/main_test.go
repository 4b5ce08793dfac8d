package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The committed pages are what the command tree generates now. When this
// fails after a command, flag or help text changed, run 'go generate ./...'.
func TestCommittedPagesAreFresh(t *testing.T) {
	t.Setenv("IOTCTL_HOME", t.TempDir())
	t.Setenv("SOURCE_DATE_EPOCH", "")
	dir := t.TempDir()
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "man")
	got, want := pages(t, dir), pages(t, committed)
	if !slices.Equal(got, want) {
		t.Fatalf("man/ holds %v, the command tree makes %v: run 'go generate ./...'", want, got)
	}
	for _, p := range got {
		g, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(filepath.Join(committed, p))
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != string(w) {
			t.Errorf("man/%s is stale: run 'go generate ./...'", p)
		}
	}
}

func pages(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m {
		names = append(names, filepath.Base(p))
	}
	slices.Sort(names)
	return names
}

// The pages cover every command, carry the fixed date, and hold nothing of
// the machine that made them.
func TestPages(t *testing.T) {
	home := t.TempDir()
	t.Setenv("IOTCTL_HOME", home)
	t.Setenv("SOURCE_DATE_EPOCH", "")
	dir := t.TempDir()
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	names := pages(t, dir)
	for _, want := range []string{"iotctl.1", "iotctl-pub.1", "iotctl-sub.1", "iotctl-broker.1", "iotctl-profile-use.1", "iotctl-policy-gen.1", "iotctl-version.1"} {
		if !slices.Contains(names, want) {
			t.Errorf("no page %s among %v", want, names)
		}
	}
	root, err := os.ReadFile(filepath.Join(dir, "iotctl.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(root), `.TH "IOTCTL" "1" "Jan 2026" "iotctl" "iotctl manual"`) {
		t.Errorf("iotctl.1 header: %q", strings.SplitN(string(root), "\n", 3)[:2])
	}
	// Help text is not Markdown: <placeholders> and *wildcards* stay.
	for page, want := range map[string]string{
		"iotctl-policy.1":     `iotctl policy <command> [flags]`,
		"iotctl-profile.1":    `profiles/<name>\&.yaml`,
		"iotctl-policy-gen.1": `a prefix with *, like test-*)`,
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not contain %q", page, want)
		}
	}
	userHome, _ := os.UserHomeDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, leak := range []string{home, dir, "Auto generated"} {
			if strings.Contains(s, leak) {
				t.Errorf("%s contains %q", n, leak)
			}
		}
		if userHome != "" && userHome != "/" && strings.Contains(s, userHome+"/") {
			t.Errorf("%s contains the home folder %s", n, userHome)
		}
	}

	// A page of a command that is gone is removed; SOURCE_DATE_EPOCH dates
	// the pages.
	stale := filepath.Join(dir, "iotctl-gone.1")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1780000000") // 2026-05-28
	if err := Generate(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale page kept: %v", err)
	}
	root, err = os.ReadFile(filepath.Join(dir, "iotctl.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(root), `"May 2026"`) {
		t.Errorf("with SOURCE_DATE_EPOCH: header %q", strings.SplitN(string(root), "\n", 3)[:2])
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if err := Generate(dir); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: err = %v", err)
	}
}
