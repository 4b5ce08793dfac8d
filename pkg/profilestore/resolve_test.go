package profilestore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testflags"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/pflag"
)

// Resolution with real profile files: package profile resolves, the
// store supplies the profiles.

// flagSet mimics the root's settings flags for the settings a test uses.
func flagSet(t *testing.T, args ...string) *pflag.FlagSet { return testflags.FlagSet(t, args...) }

func TestResolveProfileSelection(t *testing.T) {
	s, _ := newStore(t)
	for _, n := range []string{"cur", "env", "flag"} {
		if err := s.Save(n, map[string]string{"endpoint": n + ".example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	const unset = "<unset>"
	tests := []struct {
		name     string
		current  string
		env      string
		args     []string
		want     string
		wantFrom string
	}{
		{"none", "", unset, nil, "", ""},
		{"current", "cur", unset, nil, "cur", profile.FromSelection},
		{"env beats current", "cur", "env", nil, "env", profile.FromProfileEnv},
		{"flag beats env", "cur", "env", []string{"--profile", "flag"}, "flag", profile.FromProfileFlag},
		{"flag alone", "", unset, []string{"--profile", "flag"}, "flag", profile.FromProfileFlag},
		// An empty name asks for no profile, whatever the selection says.
		{"empty flag: no profile", "cur", "env", []string{"--profile", ""}, "", profile.FromProfileFlag},
		{"empty env: no profile", "cur", "", nil, "", profile.FromProfileEnv},
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
			if tt.env == unset {
				os.Unsetenv("IOTCTL_PROFILE")
			}
			got, err := profile.Resolve(flagSet(t, tt.args...), s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Profile != tt.want || got.ProfileFrom != tt.wantFrom {
				t.Errorf("profile = %q from %q, want %q from %q", got.Profile, got.ProfileFrom, tt.want, tt.wantFrom)
			}
			if wantPath := s.Path(tt.want); tt.want != "" && got.ProfilePath != wantPath {
				t.Errorf("profile path = %q, want %q", got.ProfilePath, wantPath)
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

	_, err := profile.Resolve(flagSet(t, "--profile", "nope"), s)
	if !errors.Is(err, profile.ErrNotFound) || !strings.Contains(err.Error(), "known profiles: dev") {
		t.Errorf("unknown --profile: %v", err)
	}

	t.Setenv("IOTCTL_KEEPALIVE", "soon")
	_, err = profile.Resolve(flagSet(t), s)
	if !errors.Is(err, profile.ErrInvalidValue) || !strings.Contains(err.Error(), "IOTCTL_KEEPALIVE") {
		t.Errorf("bad env duration: %v", err)
	}
	t.Setenv("IOTCTL_KEEPALIVE", "")

	// A current profile that has gone says how to pick another.
	os.WriteFile(filepath.Join(s.Dir, "current"), []byte("gone\n"), 0o600)
	_, err = profile.Resolve(flagSet(t), s)
	if !errors.Is(err, profile.ErrNotFound) || !strings.Contains(err.Error(), "profile use") {
		t.Errorf("missing current profile: %v", err)
	}
	// …and ResolveNamed with no store ignores it.
	if got, err := profile.ResolveNamed(flagSet(t), nil, ""); err != nil || got.Profile != "" {
		t.Errorf("ResolveNamed(nil store) = %v, %v", got, err)
	}
}

func TestResolveTypesAndLists(t *testing.T) {
	s, _ := newStore(t)
	s.Save("dev", map[string]string{"alpn": "p1, p2", "keepalive": "90", "clean-start": "false"})
	t.Setenv("IOTCTL_SESSION_EXPIRY", "1h")
	t.Setenv("IOTCTL_COGNITO_LOGIN", "a=1, b=2")
	got, err := profile.Resolve(flagSet(t, "--profile", "dev", "--port", "443"), s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.ALPN, "|") != "p1|p2" || got.Keepalive != 90*time.Second || got.CleanStart ||
		got.SessionExpiry != time.Hour || got.Port != 443 || strings.Join(got.CognitoLogins, "|") != "a=1|b=2" {
		t.Errorf("settings: %+v", got)
	}
	if got.Source("port") != profile.FromFlag || got.Source("session-expiry") != profile.FromEnv || got.Source("alpn") != profile.FromProfile || got.Source("limits") != profile.FromDefault {
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
	got, err = profile.Resolve(flagSet(t, "--profile", "dev", "--alpn", "f1", "--alpn", "f2"), s)
	if err != nil || strings.Join(got.ALPN, "|") != "f1|f2" {
		t.Errorf("repeated flag: %v, %v", got.ALPN, err)
	}
}

func TestSettingsStringRedacts(t *testing.T) {
	s, _ := newStore(t)
	s.Save("dev", map[string]string{"password": "hunter2", "token-value": "tok-secret"})
	got, err := profile.Resolve(flagSet(t, "--profile", "dev"), s)
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

// TestEndpointCredentials: user info in the endpoint URL becomes username
// and password unless those are set, by any source; Endpoint loses it.
func TestEndpointCredentials(t *testing.T) {
	fs := func(args ...string) *pflag.FlagSet {
		f := flagSet(t)
		f.String("username", "", "")
		f.String("password", "", "")
		f.String("password-file", "", "")
		if err := f.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	s, _ := newStore(t)
	if err := s.Save("p", map[string]string{"username": "carol"}); err != nil {
		t.Fatal(err)
	}
	const ep = "--endpoint=mqtt://alice:S3cret@host:1884"
	tests := []struct {
		name             string
		args             []string
		env              string
		user, pass       string
		userSrc, passSrc profile.Source
	}{
		{"from the URL", []string{ep}, "", "alice", "S3cret", profile.FromEndpoint, profile.FromEndpoint},
		{"--username wins", []string{ep, "--username", "bob"}, "", "bob", "S3cret", profile.FromFlag, profile.FromEndpoint},
		{"--password wins", []string{ep, "--password", "x"}, "", "alice", "x", profile.FromEndpoint, profile.FromFlag},
		{"--password-file wins", []string{ep, "--password-file", "/f"}, "", "alice", "", profile.FromEndpoint, profile.FromDefault},
		{"IOTCTL_PASSWORD wins", []string{ep}, "envpw", "alice", "envpw", profile.FromEndpoint, profile.FromEnv},
		{"profile username wins", []string{ep, "--profile", "p"}, "", "carol", "S3cret", profile.FromProfile, profile.FromEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IOTCTL_PASSWORD", tt.env)
			got, err := profile.Resolve(fs(tt.args...), s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Endpoint != "mqtt://host:1884" {
				t.Errorf("Endpoint = %q", got.Endpoint)
			}
			if got.Username != tt.user || got.Password != tt.pass || got.Source("username") != tt.userSrc || got.Source("password") != tt.passSrc {
				t.Errorf("username %q (%s), password %q (%s)", got.Username, got.Source("username"), got.Password, got.Source("password"))
			}
			if str := got.String(); strings.Contains(str, "S3cret") || !strings.Contains(str, "endpoint=mqtt://alice:****@host:1884") {
				t.Errorf("String() = %s", str)
			}
		})
	}
}
