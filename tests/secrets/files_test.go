package secrets

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
)

// TestProfileStoreModes: after every write (set, unset, use, delete) the
// store's folders are 0700 and its files 0600, even with umask 000 and a
// store folder that was created world-readable.
func TestProfileStoreModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	home := t.TempDir()
	store := filepath.Join(home, ".iotctl")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	env := clitest.Env(home)
	steps := [][]string{
		{"profile", "set", "dev", "endpoint=localhost", "password=" + secPassword},
		{"profile", "set", "prod", "endpoint=example.com", "pkcs12-password=" + secP12Password},
		{"profile", "set", "dev", "keepalive=30s"},
		{"profile", "use", "dev"},
		{"profile", "unset", "dev", "password"},
		{"profile", "use", "prod"},
		{"profile", "delete", "dev"},
		{"profile", "set", "dev", "token-value=" + secToken},
		{"profile", "delete", "prod"},
	}
	for _, args := range steps {
		r := clitest.Run(t, clitest.Opts{Args: args, Env: env})
		what := strings.Join(args[:3], " ")
		if r.Code != 0 {
			t.Fatalf("%s: exit %d: %s", what, r.Code, r.Stderr)
		}
		checkNoLeak(t, what, r, []string{secPassword, secP12Password, secToken})
		checkModes(t, what, store)
	}
}

func checkModes(t *testing.T, after, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("after %s: %s has mode %04o, want %04o", after, path, got, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("after %s: only %d entries under %s", after, n, root)
	}
}

// TestInsecureWarnsEveryRun: TLS verification is on unless --insecure, and
// --insecure prints one warning on every run of every connecting command.
func TestInsecureWarnsEveryRun(t *testing.T) {
	b, err := broker.New(broker.Options{TLSListen: "127.0.0.1:0", Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Publish("insecure/retained", []byte("kept"), true, 0); err != nil {
		t.Fatal(err)
	}
	ep := []string{"--endpoint", b.URL(broker.MQTTS)}
	warnRE := regexp.MustCompile(`^iotctl: warning: .*--insecure.*not verified`)

	r := clitest.Run(t, clitest.Opts{Args: append([]string{"pub", "-t", "insecure/t", "-m", "x"}, ep...)})
	if r.Code != 3 || !strings.Contains(r.Stderr, "--ca-file") {
		t.Errorf("without --insecure: exit %d, want 3 naming --ca-file: %s", r.Code, r.Stderr)
	}
	for _, c := range [][]string{
		{"pub", "-t", "insecure/t", "-m", "x", "-q", "1"},
		{"pub", "-t", "insecure/t", "-m", "x", "-q", "1"}, // every run, not once
		{"sub", "-t", "insecure/retained", "-C", "1"},
		{"pubsub", "-t", "insecure/ps", "--count", "1", "--interval", "0"},
	} {
		r := clitest.Run(t, clitest.Opts{Args: append(append(append([]string{}, c...), ep...), "--insecure")})
		if r.Code != 0 {
			t.Errorf("%s --insecure: exit %d: %s", c[0], r.Code, r.Stderr)
			continue
		}
		var warnings []string
		for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
			if strings.HasPrefix(l, "iotctl: warning: ") {
				warnings = append(warnings, l)
			}
		}
		if len(warnings) != 1 || !warnRE.MatchString(warnings[0]) {
			t.Errorf("%s --insecure: want one warning matching %q, got %q (stderr %q)", c[0], warnRE, warnings, r.Stderr)
		}
	}
}

// keyModeWarningExpected: pkg/auth warns about a private key file readable
// by group or others (ssh's "UNPROTECTED PRIVATE KEY FILE"): the test fails
// if the warning goes away.
const keyModeWarningExpected = true

// TestKeyFileReadableByOthersWarns: a key file of mode 0644 still works,
// with one warning line naming the file and what to do.
func TestKeyFileReadableByOthersWarns(t *testing.T) {
	w := newWorld(t)
	key, err := os.ReadFile(w.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	loose := testpki.Write(t, t.TempDir(), "loose.key", key)
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--endpoint", w.tlsURL, "--ca-file", w.caFile, "--cert", w.certFile, "--key", loose, "pub", "-t", "keymode/t", "-m", "x", "-q", "1"}
	r := clitest.Run(t, clitest.Opts{Args: args})
	if r.Code != 0 {
		t.Fatalf("a key file of mode 0644 must still work: exit %d: %s", r.Code, r.Stderr)
	}
	warnRE := regexp.MustCompile(`^iotctl: warning: .*` + regexp.QuoteMeta(loose) + `.*(readable|permissions|unprotected|UNPROTECTED).*chmod (600|go-rwx)`)
	var warnings []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		if strings.HasPrefix(l, "iotctl: warning: ") {
			warnings = append(warnings, l)
		}
	}
	switch {
	case len(warnings) == 0 && !keyModeWarningExpected:
		t.Skipf("MISSING: no warning for key file %s of mode 0644 (pkg/auth does not check key file modes yet; see the reliability report)", loose)
	case len(warnings) != 1 || !warnRE.MatchString(warnings[0]):
		t.Errorf("want one warning matching %q, got %q", warnRE, warnings)
	}
}
