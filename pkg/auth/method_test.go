package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// leveled resolves Settings with values at each level as the binary would:
// flags on a flag set like the root's, IOTCTL_* variables, and the current
// profile of a fresh store.
func leveled(t *testing.T, flags, env, prof map[string]string) *profile.Settings {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "IOTCTL_") {
			t.Setenv(k, "")
		}
	}
	for k, v := range env {
		t.Setenv(profile.EnvName(k), v)
	}
	fs := settingsFlags(t, oneEach(flags), "profile")
	var store profile.Profiles
	if prof != nil {
		st := &profilestore.Store{Dir: filepath.Join(t.TempDir(), "home")}
		if err := st.Save("p", prof); err != nil {
			t.Fatal(err)
		}
		if err := st.Use("p"); err != nil {
			t.Fatal(err)
		}
		store = st
	}
	s, err := profile.Resolve(fs, store)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMethodPrecedence: flag > env > profile > default holds for the auth
// method as for every setting: a setting that implies a method wins over
// an auth given at a lower level, an auth wins over implications from its
// own level or below, and two methods implied at the winning level are a
// usage error naming both.
func TestMethodPrecedence(t *testing.T) {
	type m = map[string]string
	pair := m{"cert": "c.pem", "key": "k.pem"}
	with := func(a, b m) m {
		out := m{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name             string
		flags, env, prof m
		want             string
		inferred         bool
		conflict         []string // usage error naming these
	}{
		{name: "nothing", want: "none", inferred: true},
		{name: "profile auth none, flag cert+key", flags: pair, prof: m{"auth": "none"}, want: "mtls", inferred: true},
		{name: "profile auth none, env cert+key", env: pair, prof: m{"auth": "none"}, want: "mtls", inferred: true},
		{name: "env auth none, flag cert+key", flags: pair, env: m{"auth": "none"}, want: "mtls", inferred: true},
		{name: "flag auth none beats profile cert+key", flags: m{"auth": "none"}, prof: pair, want: "none"},
		{name: "env auth none beats profile cert+key", env: m{"auth": "none"}, prof: pair, want: "none"},
		{name: "flag auth beats own-level implication", flags: with(pair, m{"auth": "pkcs12"}), want: "pkcs12"},
		{name: "profile auth beats own-level implication", prof: with(pair, m{"auth": "none"}), want: "none"},
		{name: "profile auth pkcs12, flag key", flags: m{"key": "k.pem"}, prof: m{"auth": "pkcs12", "pkcs12-file": "a.p12"}, want: "mtls", inferred: true},
		{name: "profile pkcs12 file, flag cert+key", flags: pair, prof: m{"pkcs12-file": "a.p12"}, want: "mtls", inferred: true},
		{name: "profile mtls pair, flag pkcs12", flags: m{"pkcs12-file": "a.p12"}, prof: pair, want: "pkcs12", inferred: true},
		{name: "profile auth mtls, flag pkcs11-lib", flags: m{"pkcs11-lib": "/x.so"}, prof: with(pair, m{"auth": "mtls"}), want: "pkcs11", inferred: true},
		{name: "profile auth none, flag authorizer", flags: m{"authorizer-name": "az"}, prof: m{"auth": "none"}, want: "custom", inferred: true},
		{name: "profile auth none, flag cognito", flags: m{"cognito-identity-id": "us-east-1:x"}, prof: m{"auth": "none"}, want: "cognito", inferred: true},
		{name: "profile auth none, flag cert-store", flags: m{"cert-store": `CurrentUser\MY\ab`}, prof: m{"auth": "none"}, want: "winstore", inferred: true},
		{name: "profile auth none, flag aws-profile", flags: m{"aws-profile": "dev"}, prof: m{"auth": "none"}, want: "sigv4", inferred: true},
		{name: "profile auth none, flag username", flags: m{"username": "bob"}, prof: m{"auth": "none"}, want: "userpass", inferred: true},
		{name: "profile auth none, env password", env: m{"password": "pw"}, prof: m{"auth": "none"}, want: "userpass", inferred: true},
		{name: "profile auth none, flag endpoint user", flags: m{"endpoint": "mqtt://bob:pw@localhost"}, prof: m{"auth": "none"}, want: "userpass", inferred: true},
		{name: "flag auth none, profile endpoint user", flags: m{"auth": "none"}, prof: m{"endpoint": "mqtt://bob:pw@localhost"}, want: "none"},
		{name: "profile auth none, flag cert alone", flags: m{"cert": "c.pem"}, prof: m{"auth": "none"}, want: "mtls", inferred: true},
		// Username and a lone certificate go with other methods: they
		// only replace none.
		{name: "profile auth mtls, flag username", flags: m{"username": "bob"}, prof: with(pair, m{"auth": "mtls"}), want: "mtls"},
		{name: "profile auth pkcs11, flag cert", flags: m{"cert": "c.pem"}, prof: m{"auth": "pkcs11", "pkcs11-lib": "/x.so"}, want: "pkcs11"},
		{name: "profile pkcs11-lib, flag cert", flags: m{"cert": "c.pem"}, prof: m{"pkcs11-lib": "/x.so"}, want: "pkcs11", inferred: true},
		{name: "pkcs11 with cert at one level", flags: m{"pkcs11-lib": "/x.so", "cert": "c.pem", "key": "k.pem"}, want: "pkcs11", inferred: true},
		{name: "profile auth sigv4, env username", env: m{"username": "bob"}, prof: m{"auth": "sigv4"}, want: "sigv4"},
		{name: "profile key, flag username", flags: m{"username": "bob"}, prof: pair, want: "mtls", inferred: true},
		// Conflicts at the winning level; lower levels do not matter.
		{name: "flag conflict", flags: with(pair, m{"pkcs12-file": "a.p12"}), prof: m{"auth": "none"}, conflict: []string{"mtls (--key)", "pkcs12 (--pkcs12-file)"}},
		{name: "env conflict", env: m{"key": "k.pem", "cert-store": "x"}, conflict: []string{"mtls (IOTCTL_KEY)", "winstore (IOTCTL_CERT_STORE)"}},
		{name: "profile conflict", prof: m{"key": "k.pem", "authorizer-name": "az"}, conflict: []string{"custom (authorizer-name in profile p)", "mtls (key in profile p)"}},
		{name: "profile conflict settled by flag", flags: pair, prof: m{"pkcs12-file": "a.p12", "authorizer-name": "az"}, want: "mtls", inferred: true},
		{name: "profile conflict settled by env auth", env: m{"auth": "custom"}, prof: m{"pkcs12-file": "a.p12", "authorizer-name": "az"}, want: "custom"},
		{name: "env conflict not settled by profile auth", env: m{"key": "k.pem", "pkcs12-file": "a.p12"}, prof: m{"auth": "mtls"}, conflict: []string{"mtls (IOTCTL_KEY)", "pkcs12 (IOTCTL_PKCS12_FILE)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := leveled(t, c.flags, c.env, c.prof)
			got, inferred, err := Method(s)
			if c.conflict != nil {
				certWantUsage(t, err, append([]string{"conflicting auth settings", "choose one with --auth"}, c.conflict...)...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || inferred != c.inferred {
				t.Errorf("Method = %q inferred %v, want %q inferred %v", got, inferred, c.want, c.inferred)
			}
			if m, err := Infer(s); err != nil || m != c.want {
				t.Errorf("Infer = %q, %v; want %q", m, err, c.want)
			}
		})
	}
}
