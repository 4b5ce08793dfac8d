// Package secrets runs every iotctl command with --debug and every secret
// iotctl handles, given by flag, by IOTCTL_* variable and by profile, on
// success and failure paths, and checks that no secret reaches stdout or
// stderr. It also checks the profile store's file modes, the --insecure
// warning, the TLS floor and the warning for a private key file readable
// by others.
package secrets

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/profile"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

type kv = [2]string

// method is one auth method: its settings (secret ones apart, so the env
// source can move them to IOTCTL_* variables) and what else a source
// needs (AWS credentials live outside iotctl's settings).
type method struct {
	name     string
	settings []kv // not secret
	secret   []kv // secret settings
	// aws returns, for a source, extra settings and environment entries
	// carrying AWS credentials (sigv4 only).
	aws     func(src string, wrong bool) (settings []kv, env []string)
	env     []string
	secrets []string // values that must never be shown, besides secret's
	needs   string
}

func methods(w *world) []method {
	awsFile := filepath.Join(w.awsProfileDir, ".aws", "credentials")
	return []method{
		{name: "userpass", settings: []kv{{"endpoint", w.plainURL}, {"username", "leaky-user"}}, secret: []kv{{"password", secPassword}}},
		// mqtt://user:password@host: the URL is the secret setting, so the
		// env source gives it as IOTCTL_ENDPOINT.
		{name: "userpass in endpoint URL", secret: []kv{{"endpoint", strings.Replace(w.plainURL, "://", "://leaky-user:"+secPassword+"@", 1)}}},
		{name: "proxy with password", needs: "tinyproxy", settings: []kv{{"endpoint", w.plainURL}},
			secret: []kv{{"proxy", "http://bob:" + secProxy + "@" + w.proxyAddr}}},
		{name: "socks5 proxy with password", needs: "microsocks", settings: []kv{{"endpoint", w.plainURL}},
			secret: []kv{{"proxy", "socks5h://bob:" + secProxy + "@" + w.socksAddr}}},
		{name: "mtls with key password", settings: []kv{{"endpoint", w.tlsURL}, {"ca-file", w.caFile}, {"cert", w.certFile}, {"key", w.encKey}}, secret: []kv{{"key-password", secKeyPassword}}},
		{name: "pkcs12", settings: []kv{{"endpoint", w.tlsURL}, {"ca-file", w.caFile}, {"pkcs12-file", w.p12File}}, secret: []kv{{"pkcs12-password", secP12Password}}},
		{name: "pkcs11", needs: "softhsm", env: []string{"SOFTHSM2_CONF=" + w.softhsmConf},
			settings: []kv{{"endpoint", w.tlsURL}, {"ca-file", w.caFile}, {"pkcs11-lib", w.softhsmLib}, {"pkcs11-token-label", "secrets"}},
			secret:   []kv{{"pkcs11-pin", secPIN}}},
		{name: "custom", settings: []kv{{"endpoint", w.plainURL}, {"auth", "custom"}, {"authorizer-name", "leaky-authorizer"}, {"token-key-name", "tok"}},
			secret: []kv{{"token-value", secToken}, {"token-signature", secSignature}, {"authorizer-password", secAuthorizerPw}}},
		{name: "sigv4", settings: []kv{{"endpoint", w.wsURL}, {"auth", "sigv4"}, {"region", "us-east-1"}},
			secrets: []string{secAWSSecret, secAWSToken},
			aws: func(src string, wrong bool) ([]kv, []string) {
				if src == "env" || wrong {
					sk := secAWSSecret
					if wrong {
						sk += "-WRONG"
					}
					return nil, []string{"AWS_ACCESS_KEY_ID=" + awsAKID, "AWS_SECRET_ACCESS_KEY=" + sk, "AWS_SESSION_TOKEN=" + secAWSToken}
				}
				return []kv{{"aws-profile", "leaky"}}, []string{"AWS_SHARED_CREDENTIALS_FILE=" + awsFile}
			}},
		{name: "cognito", settings: []kv{{"endpoint", w.wsURL}, {"auth", "cognito"}, {"cognito-identity-id", cognitoID}, {"cognito-endpoint", w.cognitoURL}},
			secret:  []kv{{"cognito-login", "accounts.google.com=" + secLogin}},
			secrets: []string{secCognitoKey, secCognitoToken}},
	}
}

type command struct {
	name string
	args []string
	code int // -1: any
	// optional: a command another helper is still writing; "unknown
	// command" skips it.
	optional bool
	// connects: the command uses the credentials, so a wrong secret
	// must make it fail.
	connects bool
	// noConnFlags: the command takes no connection flags (it does not
	// connect); the settings given as flags reach it as IOTCTL_* variables.
	noConnFlags bool
}

func commands(w *world, tag string) []command {
	return []command{
		{connects: true, name: "pub", args: []string{"pub", "-t", "secrets/" + tag, "-m", "hello", "-q", "1"}, code: 0},
		{name: "pub refused", args: []string{"pub", "-t", "secrets/" + tag, "-m", "hello", "-q", "1", "--client-id", "deny-pub"}, code: 4},
		{connects: true, name: "pub --lines", args: []string{"pub", "-t", "secrets/" + tag, "-l", "-q", "1"}, code: 0},
		{connects: true, name: "sub", args: []string{"sub", "-t", "secrets/retained", "-C", "1", "-W", "30s"}, code: 0},
		{name: "sub refused", args: []string{"sub", "-t", "secrets/retained", "-C", "1", "--client-id", "deny-sub"}, code: 4},
		{connects: true, name: "pubsub", args: []string{"pubsub", "-t", "secrets/ps-" + tag, "--count", "1", "--interval", "0"}, code: 0},
		{name: "profile show", args: []string{"profile", "show"}, code: 0, noConnFlags: true},
		{name: "profile validate", args: []string{"profile", "validate"}, code: -1},
		{name: "profile validate --connect", args: []string{"profile", "validate", "--connect"}, code: -1},
		{name: "policy check", args: []string{"policy", "check", "-p", w.policyFile, "-a", "iot:Connect", "-r", "client/x"}, code: 0, noConnFlags: true},
		{name: "whoami", args: []string{"whoami"}, code: -1, optional: true},
		{name: "bench", args: []string{"bench", "pub", "--count", "1"}, code: -1, optional: true},
	}
}

func TestNoSecretInOutput(t *testing.T) {
	w := newWorld(t)
	runs := 0
	for _, m := range methods(w) {
		t.Run(m.name, func(t *testing.T) {
			if m.needs == "softhsm" && w.softhsmLib == "" {
				if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
					t.Fatal("SoftHSM2 is missing and IOTCTL_REQUIRE_PEERS=1")
				}
				t.Skip("SoftHSM2 is not installed")
			}
			if m.needs == "tinyproxy" && w.proxyAddr == "" {
				if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
					t.Fatal("tinyproxy is missing and IOTCTL_REQUIRE_PEERS=1")
				}
				t.Skip("tinyproxy is not installed")
			}
			if m.needs == "microsocks" && w.socksAddr == "" {
				if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
					t.Fatal("microsocks is missing and IOTCTL_REQUIRE_PEERS=1")
				}
				t.Skip("microsocks is not installed")
			}
			for _, src := range []string{"flag", "env", "profile"} {
				for _, wrong := range []bool{false, true} {
					name := src
					if wrong {
						name += " wrong secret"
					}
					t.Run(name, func(t *testing.T) {
						runs += runMethod(t, w, m, src, wrong)
					})
				}
			}
		})
	}
	t.Logf("RELIABILITY secret_runs=%d", runs)
}

// runMethod runs every command for one method and source and returns how
// many runs it checked.
func runMethod(t *testing.T, w *world, m method, src string, wrong bool) int {
	home := t.TempDir()
	secretKVs := m.secret
	if wrong {
		secretKVs = nil
		for _, s := range m.secret {
			secretKVs = append(secretKVs, kv{s[0], wrongOf(s[1])})
		}
	}
	settings := append([]kv(nil), m.settings...)
	env := append([]string{"IOTCTL_VERBOSE=1"}, m.env...)
	if m.aws != nil {
		s, e := m.aws(src, wrong)
		settings = append(settings, s...)
		env = append(env, e...)
	}
	forbidden := append([]string(nil), m.secrets...)
	for _, s := range m.secret {
		forbidden = append(forbidden, s[1], wrongOf(s[1]))
	}
	forbidden = append(forbidden, secLogin, secPassword, secProxy)

	var global []string
	var flagKVs [][2]string // the settings given as flags
	flag := func(k, v string) { global = append(global, "--"+k, v); flagKVs = append(flagKVs, [2]string{k, v}) }
	switch src {
	case "flag":
		for _, s := range append(settings, secretKVs...) {
			flag(s[0], s[1])
		}
	case "env":
		for _, s := range settings {
			flag(s[0], s[1])
		}
		for _, s := range secretKVs {
			env = append(env, profile.EnvName(s[0])+"="+s[1])
		}
	case "profile":
		setArgs := []string{"profile", "set", "leaky"}
		for _, s := range append(settings, secretKVs...) {
			setArgs = append(setArgs, s[0]+"="+s[1])
		}
		r := clitest.Run(t, clitest.Opts{Args: setArgs, Env: clitest.Env(home, env...)})
		checkNoLeak(t, "profile set", r, forbidden)
		if r.Code != 0 {
			t.Fatalf("profile set: exit %d: %s", r.Code, r.Stderr)
		}
		global = []string{"--profile", "leaky"}
	}
	global = append(global, "--debug")

	runs := 0
	tag := strings.NewReplacer(" ", "-").Replace(m.name + "-" + src)
	for _, c := range commands(w, tag) {
		if c.name == "policy check" && src != "flag" || wrong && !c.connects && c.name != "profile validate --connect" {
			continue
		}
		// Connection flags follow the command name.
		args := append(append([]string{}, c.args...), global...)
		cenv := env
		if c.noConnFlags {
			args = append(append([]string{}, c.args...), "--debug")
			if src == "profile" {
				args = append(args, "--profile", "leaky")
			}
			cenv = append([]string(nil), env...)
			for _, kv := range flagKVs {
				cenv = append(cenv, profile.EnvName(kv[0])+"="+kv[1])
			}
		}
		stdin := ""
		if c.name == "pub --lines" {
			stdin = "line one\nline two\n"
		}
		r := clitest.Run(t, clitest.Opts{Args: args, Env: clitest.Env(home, cenv...), Stdin: strings.NewReader(stdin)})
		runs++
		if r.Elapsed > 2*time.Second {
			t.Logf("SLOW %s: %s", c.name, r.Elapsed.Round(time.Millisecond))
		}
		if c.optional && strings.Contains(r.Stderr, "unknown command") {
			t.Logf("%s: not in this build yet (unknown command): skipped", c.name)
			continue
		}
		checkNoLeak(t, c.name, r, forbidden)
		switch {
		case wrong && c.connects && r.Code == 0 && !strings.HasPrefix(m.name, "userpass") && m.name != "custom":
			t.Errorf("%s with a wrong secret: exit 0\nstderr: %s", c.name, clitest.Tail(r.Stderr, 20))
		case !wrong && c.code >= 0 && r.Code != c.code:
			t.Errorf("%s: exit %d, want %d\nstderr: %s", c.name, r.Code, c.code, clitest.Tail(r.Stderr, 20))
		}
	}
	return runs
}

// wrongOf is a wrong secret: a URL's password gets the suffix, so the URL
// still parses and the wrong password is what is sent.
func wrongOf(secret string) string {
	if at := strings.LastIndexByte(secret, '@'); at > 0 && strings.Contains(secret, "://") {
		return secret[:at] + "-WRONG" + secret[at:]
	}
	return secret + "-WRONG"
}

// checkNoLeak fails when a secret, or its URL or base64 encoding, or the
// marker SECRET every test secret carries, is in the output.
func checkNoLeak(t *testing.T, what string, r clitest.Result, secrets []string) {
	t.Helper()
	for _, stream := range []struct{ name, text string }{{"stdout", r.Stdout}, {"stderr", r.Stderr}} {
		if i := strings.Index(stream.text, "SECRET"); i >= 0 {
			lo, hi := max(0, i-120), min(len(stream.text), i+60)
			t.Errorf("%s: a secret is on %s: …%s…", what, stream.name, stream.text[lo:hi])
			continue
		}
		for _, s := range secrets {
			for _, form := range []string{url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))} {
				if strings.Contains(stream.text, form) {
					t.Errorf("%s: secret %.6s… (encoded as %q) is on %s", what, s, form, stream.name)
				}
			}
		}
	}
}
