package profilestore

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/pkg/profile"
)

func newStore(t *testing.T) (*Store, *[]string) {
	t.Helper()
	var warnings []string
	return &Store{Dir: filepath.Join(t.TempDir(), "home"), Warn: func(s string) { warnings = append(warnings, s) }}, &warnings
}

// checkModes asserts 0700 folders and 0600 files throughout the store.
func checkModes(t *testing.T, s *Store) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	err := filepath.Walk(s.Dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreModesAfterEveryWrite(t *testing.T) {
	s, _ := newStore(t)
	steps := []struct {
		name string
		do   func() error
	}{
		{"save", func() error { return s.Save("a", map[string]string{"endpoint": "h"}) }},
		{"set new", func() error { _, err := s.Set("b", map[string]string{"port": "8883"}); return err }},
		{"set existing", func() error { _, err := s.Set("a", map[string]string{"password": "pw"}); return err }},
		{"unset", func() error { _, err := s.Unset("a", []string{"password"}); return err }},
		{"use", func() error { return s.Use("b") }},
		{"delete", func() error { return s.Delete("a") }},
	}
	for _, st := range steps {
		// Loosen everything first: a write must tighten what it touches.
		if runtime.GOOS != "windows" {
			os.Chmod(s.Dir, 0o755)
			os.Chmod(filepath.Join(s.Dir, "profiles"), 0o755)
		}
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		checkModes(t, s)
		if t.Failed() {
			t.Fatalf("after %s", st.name)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"dev", true},
		{"prod-eu_1", true},
		{"0", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"Dev", false},
		{"-dev", false},
		{"_dev", false},
		{"a/b", false},
		{"..", false},
		{"a.b", false},
		{"dev ", false},
		{"con", false},
		{"nul", false},
		{"com1", false},
		{"lpt9", false},
		{"com", true},
		{"console", true},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, profile.ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", tt.name, err)
		}
	}
}

func writeProfile(t *testing.T, s *Store, name, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(s.Dir, "profiles"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(name), []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.Path(name), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadUnknownKey(t *testing.T) {
	s, _ := newStore(t)
	writeProfile(t, s, "dev", "endpoint: h\nenpoint: x\n", 0o600)
	_, err := s.Load("dev")
	if !errors.Is(err, profile.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	for _, want := range []string{`"enpoint"`, s.Path("dev"), `did you mean "endpoint"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestLoadMalformed(t *testing.T) {
	tests := map[string]string{
		"bad yaml":      "endpoint: [unclosed\n",
		"not a mapping": "- a\n- b\n",
		"nested":        "endpoint:\n  host: x\n",
		"bad enum":      "auth: bogus\n",
		"bad int":       "port: eighty\n",
		"bad duration":  "keepalive: soon\n",
		"duplicate":     "ca-file: a\nca_file: b\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := newStore(t)
			writeProfile(t, s, "dev", text, 0o600)
			_, err := s.Load("dev")
			if !errors.Is(err, profile.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), s.Path("dev")) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestParseSpellingsAndTypes(t *testing.T) {
	got, err := Parse("p.yaml", []byte("ca_file: ca.pem\nCLIENT_ID: x\nport: 8883\nclean-start: false\nalpn: [a, b]\nkeepalive: 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ca-file": "ca.pem", "client-id": "x", "port": "8883", "clean-start": "false", "alpn": "a,b", "keepalive": "30"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
}

func TestLoadNotFoundNamesKnownProfiles(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Load("dev")
	if !errors.Is(err, profile.ErrNotFound) || !strings.Contains(err.Error(), "profile set dev") {
		t.Fatalf("err = %v, want profile.ErrNotFound with a hint to create it", err)
	}
	for _, n := range []string{"b", "a"} {
		if err := s.Save(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Load("dev")
	if !errors.Is(err, profile.ErrNotFound) || !strings.Contains(err.Error(), "known profiles: a, b") {
		t.Fatalf("err = %v, want profile.ErrNotFound naming a, b", err)
	}
}

func TestWorldReadableWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	s, warnings := newStore(t)
	writeProfile(t, s, "dev", "endpoint: h\n", 0o644)
	values, err := s.Load("dev")
	if err != nil {
		t.Fatal(err)
	}
	if values["endpoint"] != "h" {
		t.Errorf("endpoint = %q", values["endpoint"])
	}
	if len(*warnings) != 1 || !strings.Contains((*warnings)[0], "readable by others") || !strings.Contains((*warnings)[0], "chmod 600") {
		t.Errorf("warnings = %q", *warnings)
	}

	*warnings = nil
	os.Chmod(s.Path("dev"), 0o600)
	if _, err := s.Load("dev"); err != nil {
		t.Fatal(err)
	}
	if len(*warnings) != 0 {
		t.Errorf("warnings for a 0600 file: %q", *warnings)
	}
}

func TestSetKeepsCommentsAndOrder(t *testing.T) {
	s, _ := newStore(t)
	writeProfile(t, s, "dev", "# my broker\nport: 1883 # plain\nendpoint: a.example.com\n", 0o600)
	created, err := s.Set("dev", map[string]string{"port": "8883", "ca_file": "ca.pem", "client-id": "0123"})
	if err != nil || created {
		t.Fatalf("Set = %v, %v", created, err)
	}
	data, _ := os.ReadFile(s.Path("dev"))
	want := "# my broker\nport: 8883 # plain\nendpoint: a.example.com\nca-file: ca.pem\nclient-id: \"0123\"\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	values, err := s.Load("dev")
	if err != nil {
		t.Fatal(err)
	}
	if values["client-id"] != "0123" || values["port"] != "8883" {
		t.Errorf("values = %v", values)
	}
}

func TestSetCreatesAndValidates(t *testing.T) {
	s, _ := newStore(t)
	created, err := s.Set("new", map[string]string{"endpoint": "h", "insecure": "true"})
	if err != nil || !created {
		t.Fatalf("Set = %v, %v", created, err)
	}
	data, _ := os.ReadFile(s.Path("new"))
	if !strings.HasPrefix(string(data), "# iotctl profile new") || !strings.Contains(string(data), "insecure: true\n") {
		t.Errorf("file:\n%s", data)
	}
	if _, err := s.Set("new", map[string]string{"enpoint": "x"}); !errors.Is(err, profile.ErrUnknownKey) || !strings.Contains(err.Error(), `"endpoint"`) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := s.Set("new", map[string]string{"auth": "bogus"}); !errors.Is(err, profile.ErrInvalidValue) {
		t.Errorf("bad enum: %v", err)
	}
	if _, err := s.Set("Bad", map[string]string{"endpoint": "x"}); !errors.Is(err, profile.ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
}

func TestUnset(t *testing.T) {
	s, _ := newStore(t)
	writeProfile(t, s, "dev", "endpoint: h\nca_file: ca.pem\nport: 1\n", 0o600)
	removed, err := s.Unset("dev", []string{"ca-file", "port", "username"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "ca-file,port" {
		t.Errorf("removed = %v", removed)
	}
	values, _ := s.Load("dev")
	if len(values) != 1 || values["endpoint"] != "h" {
		t.Errorf("values = %v", values)
	}
	if _, err := s.Unset("dev", []string{"enpoint"}); !errors.Is(err, profile.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := s.Unset("nope", []string{"port"}); !errors.Is(err, profile.ErrNotFound) {
		t.Errorf("missing profile: %v", err)
	}
}

func TestUnsetRepairsUnknownKey(t *testing.T) {
	s, _ := newStore(t)
	writeProfile(t, s, "dev", "endpoint: h\nenpoint: typo\n", 0o600)
	// Unset must be able to read the file that Load rejects.
	if _, err := s.Load("dev"); !errors.Is(err, profile.ErrUnknownKey) {
		t.Fatalf("Load: %v", err)
	}
	removed, err := s.Unset("dev", []string{"enpoint"})
	if err != nil || len(removed) != 1 {
		t.Fatalf("Unset = %v, %v", removed, err)
	}
	if _, err := s.Load("dev"); err != nil {
		t.Errorf("after repair: %v", err)
	}
}

func TestUseAndDelete(t *testing.T) {
	s, _ := newStore(t)
	if cur, _ := s.Current(); cur != "" {
		t.Fatalf("current = %q", cur)
	}
	if err := s.Use("dev"); !errors.Is(err, profile.ErrNotFound) {
		t.Fatalf("Use of a missing profile: %v", err)
	}
	s.Save("dev", map[string]string{"endpoint": "h"})
	s.Save("prod", map[string]string{"endpoint": "p"})
	if err := s.Use("dev"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != "dev" {
		t.Errorf("current = %q", cur)
	}
	if err := s.Delete("prod"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != "dev" {
		t.Errorf("deleting another profile changed current to %q", cur)
	}
	if err := s.Delete("dev"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(); cur != "" {
		t.Errorf("current = %q after deleting it", cur)
	}
	if err := s.Delete("dev"); !errors.Is(err, profile.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if names, _ := s.List(); len(names) != 0 {
		t.Errorf("List = %v", names)
	}
}

func TestCreateNeverReplaces(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if err := s.Create("dev1", map[string]string{"endpoint": "one.example.com"}); err != nil {
		t.Fatal(err)
	}
	err := s.Create("dev1", map[string]string{"endpoint": "two.example.com"})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if got, _ := s.Load("dev1"); got["endpoint"] != "one.example.com" {
		t.Errorf("profile replaced: %v", got)
	}
	if err := s.Create("Bad", nil); !errors.Is(err, profile.ErrInvalidName) {
		t.Errorf("invalid name: %v", err)
	}
}
