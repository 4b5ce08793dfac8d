package profile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// flagSet mimics the root's settings flags for the settings a test uses.
func flagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("profile", "", "")
	fs.String("endpoint", "localhost", "")
	fs.StringArray("alpn", nil, "")
	fs.Int("port", 0, "")
	fs.String("cert", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestResolveProfileSelection(t *testing.T) {
	s, _ := newStore(t)
	for _, n := range []string{"cur", "env", "flag"} {
		if err := s.Save(n, map[string]string{"endpoint": n + ".example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		current string
		env     string
		args    []string
		want    string
	}{
		{"none", "", "", nil, ""},
		{"current", "cur", "", nil, "cur"},
		{"env beats current", "cur", "env", nil, "env"},
		{"flag beats env", "cur", "env", []string{"--profile", "flag"}, "flag"},
		{"flag alone", "", "", []string{"--profile", "flag"}, "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(s.Dir, "current"))
			if tt.current != "" {
				if err := s.Use(tt.current); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("IOTCTL_PROFILE", tt.env)
			got, err := Resolve(flagSet(t, tt.args...), s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Profile != tt.want {
				t.Errorf("profile = %q, want %q", got.Profile, tt.want)
			}
			wantEndpoint := "localhost"
			if tt.want != "" {
				wantEndpoint = tt.want + ".example.com"
			}
			if got.Endpoint != wantEndpoint {
				t.Errorf("endpoint = %q, want %q", got.Endpoint, wantEndpoint)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	s, _ := newStore(t)
	s.Save("dev", nil)

	_, err := Resolve(flagSet(t, "--profile", "nope"), s)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "known profiles: dev") {
		t.Errorf("unknown --profile: %v", err)
	}

	t.Setenv("IOTCTL_KEEPALIVE", "soon")
	_, err = Resolve(flagSet(t), s)
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "IOTCTL_KEEPALIVE") {
		t.Errorf("bad env duration: %v", err)
	}
	t.Setenv("IOTCTL_KEEPALIVE", "")

	// A current profile that has gone says how to pick another.
	os.WriteFile(filepath.Join(s.Dir, "current"), []byte("gone\n"), 0o600)
	_, err = Resolve(flagSet(t), s)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "profile use") {
		t.Errorf("missing current profile: %v", err)
	}
	// …and ResolveNamed with no store ignores it.
	if got, err := ResolveNamed(flagSet(t), nil, ""); err != nil || got.Profile != "" {
		t.Errorf("ResolveNamed(nil store) = %v, %v", got, err)
	}
}

func TestResolveTypesAndLists(t *testing.T) {
	s, _ := newStore(t)
	s.Save("dev", map[string]string{"alpn": "p1, p2", "keepalive": "90", "clean-start": "false"})
	t.Setenv("IOTCTL_SESSION_EXPIRY", "1h")
	t.Setenv("IOTCTL_COGNITO_LOGIN", "a=1, b=2")
	got, err := Resolve(flagSet(t, "--profile", "dev", "--port", "443"), s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.ALPN, "|") != "p1|p2" || got.Keepalive != 90*time.Second || got.CleanStart ||
		got.SessionExpiry != time.Hour || got.Port != 443 || strings.Join(got.CognitoLogins, "|") != "a=1|b=2" {
		t.Errorf("settings: %+v", got)
	}
	if got.Source("port") != FromFlag || got.Source("session-expiry") != FromEnv || got.Source("alpn") != FromProfile || got.Source("limits") != FromDefault {
		t.Errorf("sources: %v", got.Entries)
	}
	for _, e := range got.Entries {
		if e.Name == "alpn" && e.Value != "p1,p2" {
			t.Errorf("alpn text = %q, want p1,p2", e.Value)
		}
		if e.Name == "cognito-login" && e.Value != "a=1,b=2" {
			t.Errorf("cognito-login text = %q", e.Value)
		}
	}
	got, err = Resolve(flagSet(t, "--profile", "dev", "--alpn", "f1", "--alpn", "f2"), s)
	if err != nil || strings.Join(got.ALPN, "|") != "f1|f2" {
		t.Errorf("repeated flag: %v, %v", got.ALPN, err)
	}
}

func TestResolveExpandsHomeInFiles(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	got, err := Resolve(flagSet(t, "--cert", "~/certs/c.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "certs", "c.pem"); got.Cert != want {
		t.Errorf("cert = %q, want %q", got.Cert, want)
	}
	for in, want := range map[string]string{"~user/x": "~user/x", "a/~/b": "a/~/b", "": ""} {
		if got := ExpandHome(in); got != want {
			t.Errorf("ExpandHome(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSettingsStringRedacts(t *testing.T) {
	s, _ := newStore(t)
	s.Save("dev", map[string]string{"password": "hunter2", "token-value": "tok-secret"})
	got, err := Resolve(flagSet(t, "--profile", "dev"), s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Password != "hunter2" {
		t.Errorf("password = %q", got.Password)
	}
	str := got.String()
	if strings.Contains(str, "hunter2") || strings.Contains(str, "tok-secret") || !strings.Contains(str, "password=****") {
		t.Errorf("String() = %s", str)
	}
}

// Every field of Settings is a setting of Defs and the other way round.
func TestSettingsMatchDefs(t *testing.T) {
	s := &Settings{}
	values := map[string]any{}
	for _, d := range Defs {
		v, err := parseValue(d, d.Default)
		if err != nil {
			t.Fatalf("default of %s: %v", d.Name, err)
		}
		values[d.Name] = v
	}
	s.assign(values) // panics on a type mismatch
	tags := map[string]bool{}
	rt := reflect.TypeOf(*s)
	for i := range rt.NumField() {
		if tag := rt.Field(i).Tag.Get("setting"); tag != "" {
			tags[tag] = true
			if _, ok := Lookup(tag); !ok {
				t.Errorf("field %s: setting %q is not in Defs", rt.Field(i).Name, tag)
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range Defs {
		if seen[d.Name] {
			t.Errorf("%s defined twice", d.Name)
		}
		seen[d.Name] = true
		if !tags[d.Name] {
			t.Errorf("setting %s has no Settings field", d.Name)
		}
		if d.Name != NormalizeKey(d.Name) {
			t.Errorf("%s is not in canonical spelling", d.Name)
		}
	}
}
