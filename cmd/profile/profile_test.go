package profile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

type result struct {
	out, errOut string
	err         error
}

func (r result) code() int { return cmdutil.ExitCode(r.err) }

// home points IOTCTL_HOME at a fresh folder and returns its store.
func home(t *testing.T) *profilestore.Store {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("IOTCTL_HOME", dir)
	return &profilestore.Store{Dir: dir}
}

// run executes `iotctl <args>` on a tree like the root's: the settings
// flags, their normalisation, and the profile command.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(NewCmdProfile(f), out, errOut)
	root.SetArgs(args)
	err := root.Execute()
	return result{out.String(), errOut.String(), err}
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, "", args...)
	if r.err != nil {
		t.Fatalf("iotctl %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.errOut)
	}
	return r
}

type showJSON struct {
	Profile  string `json:"profile"`
	Settings []struct {
		Name   string
		Value  any
		Source string
	} `json:"settings"`
}

func (s showJSON) get(name string) (value, source string) {
	for _, e := range s.Settings {
		if e.Name == name {
			return fmt.Sprint(e.Value), e.Source
		}
	}
	return "", ""
}

func TestShowEverySettingWithSource(t *testing.T) {
	home(t)
	mustRun(t, "profile", "set", "dev", "endpoint=dev.example.com", "port=8883")
	mustRun(t, "profile", "use", "dev")
	t.Setenv("IOTCTL_LIMITS", "mqtt5")
	t.Setenv("IOTCTL_PORT", "443")

	r := mustRun(t, "profile", "show", "-o", "json")
	var got showJSON
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if got.Profile != "dev" || len(got.Settings) != len(profile.Defs) {
		t.Errorf("profile %q with %d settings, want dev with %d", got.Profile, len(got.Settings), len(profile.Defs))
	}
	for name, want := range map[string][2]string{
		"endpoint":  {"dev.example.com", "profile"},
		"port":      {"443", "env"},
		"limits":    {"mqtt5", "env"},
		"output":    {"json", "flag"},
		"keepalive": {"60s", "default"},
	} {
		if v, src := got.get(name); v != want[0] || src != want[1] {
			t.Errorf("%s = %q from %q, want %q from %q", name, v, src, want[0], want[1])
		}
	}

	r = mustRun(t, "profile", "show")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if !strings.HasPrefix(lines[0], "profile: dev (") || !strings.HasSuffix(lines[0], "), selected by 'iotctl profile use' ("+filepath.Join(os.Getenv("IOTCTL_HOME"), "current")+")") || !strings.HasPrefix(lines[2], "SETTING") || len(lines) != 3+len(profile.Defs) {
		t.Errorf("text output:\n%s", r.out)
	}
	valueCol := strings.Index(lines[2], "VALUE")
	for _, l := range lines[3:] {
		if strings.HasPrefix(l, "endpoint ") && (l[valueCol:valueCol+15] != "dev.example.com" || !strings.HasSuffix(l, "  profile")) {
			t.Errorf("endpoint line not aligned: %q", l)
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing blanks: %q", l)
		}
	}
}

func TestShowNamedProfile(t *testing.T) {
	home(t)
	mustRun(t, "profile", "set", "a", "endpoint=a.example.com")
	mustRun(t, "profile", "set", "b", "endpoint=b.example.com")
	mustRun(t, "profile", "use", "a")
	t.Setenv("IOTCTL_PROFILE", "a")
	r := mustRun(t, "profile", "show", "b", "-o", "json")
	var got showJSON
	json.Unmarshal([]byte(r.out), &got)
	if v, src := got.get("endpoint"); got.Profile != "b" || v != "b.example.com" || src != "profile" {
		t.Errorf("show b: profile %q endpoint %q from %q", got.Profile, v, src)
	}
	r = run(t, "", "profile", "show", "nope")
	if r.code() != 2 || !strings.Contains(r.err.Error(), "known profiles: a, b") {
		t.Errorf("show nope: %v (exit %d)", r.err, r.code())
	}
}

func TestShowRedactsSecrets(t *testing.T) {
	home(t)
	secrets := map[string]string{
		"password":        "pw-from-profile-1",
		"pkcs11-pin":      "pin-from-profile-2",
		"cognito-login":   "cognito=login-from-profile-3",
		"token-signature": "sig-from-profile-4",
	}
	args := []string{"profile", "set", "dev"}
	for k, v := range secrets {
		args = append(args, k+"="+v)
	}
	r := mustRun(t, args...)
	t.Setenv("IOTCTL_KEY_PASSWORD", "kp-from-env-5")
	t.Setenv("IOTCTL_PKCS12_PASSWORD", "p12-from-env-6")
	t.Setenv("IOTCTL_TOKEN_VALUE", "tok-from-env-7")
	all := []string{"kp-from-env-5", "p12-from-env-6", "tok-from-env-7"}
	for _, v := range secrets {
		all = append(all, v, strings.TrimPrefix(v, "cognito="))
	}
	outputs := []string{r.out + r.errOut}
	for _, o := range []string{"text", "json"} {
		r := mustRun(t, "--profile", "dev", "profile", "show", "-o", o)
		outputs = append(outputs, r.out+r.errOut)
		if strings.Count(r.out, "****") != 7 {
			t.Errorf("-o %s: want 7 redacted values:\n%s", o, r.out)
		}
	}
	for _, out := range outputs {
		for _, secret := range all {
			if strings.Contains(out, secret) {
				t.Errorf("output shows secret %q:\n%s", secret, out)
			}
		}
	}
}

// TestURLPasswordsMasked: the passwords of proxy and endpoint URLs, from a
// profile or an IOTCTL_* variable, are shown as **** by set, show and
// list, in text and JSON; the endpoint's user becomes the username.
func TestURLPasswordsMasked(t *testing.T) {
	home(t)
	const proxyURL, endpointURL = "http://bob:Pr0xyPW@host:3128", "mqtt://alice:S3cret@host"
	var outputs []string
	for _, o := range []string{"text", "json"} {
		r := mustRun(t, "profile", "set", "px", "proxy="+proxyURL, "endpoint="+endpointURL, "-o", o)
		outputs = append(outputs, r.out+r.errOut)
		for _, want := range []string{"http://bob:****@host:3128", "mqtt://alice:****@host"} {
			if !strings.Contains(r.out+r.errOut, want) {
				t.Errorf("set -o %s: no %s in %s", o, want, r.out+r.errOut)
			}
		}
		r = mustRun(t, "profile", "show", "px", "-o", o)
		outputs = append(outputs, r.out+r.errOut)
		for _, want := range []string{"http://bob:****@host:3128", "mqtt://alice:****@host", "alice"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("show -o %s: no %s in\n%s", o, want, r.out)
			}
		}
		r = mustRun(t, "profile", "list", "-o", o)
		outputs = append(outputs, r.out+r.errOut)
		if !strings.Contains(r.out, "mqtt://alice:****@host") {
			t.Errorf("list -o %s:\n%s", o, r.out)
		}
	}
	r := mustRun(t, "--profile", "px", "profile", "show", "-o", "json")
	var got showJSON
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, value, source string }{
		{"endpoint", "mqtt://alice:****@host", "profile"},
		{"username", "alice", "endpoint"},
		{"password", "****", "endpoint"},
		{"proxy", "http://bob:****@host:3128", "profile"},
	} {
		if v, src := got.get(tt.name); v != tt.value || src != tt.source {
			t.Errorf("%s = %q (%s), want %q (%s)", tt.name, v, src, tt.value, tt.source)
		}
	}
	t.Setenv("IOTCTL_PROXY", "http://carol:EnvPW@host:3128")
	t.Setenv("IOTCTL_ENDPOINT", "mqtts://dave:EnvS3cret@host")
	r = mustRun(t, "profile", "show")
	outputs = append(outputs, r.out+r.errOut)
	if !strings.Contains(r.out, "http://carol:****@host:3128  env") || !strings.Contains(r.out, "mqtts://dave:****@host") {
		t.Errorf("show from env:\n%s", r.out)
	}
	for _, out := range outputs {
		for _, secret := range []string{"Pr0xyPW", "S3cret", "EnvPW"} {
			if strings.Contains(out, secret) {
				t.Errorf("output shows %q:\n%s", secret, out)
			}
		}
	}
}

func TestList(t *testing.T) {
	home(t)
	r := mustRun(t, "profile", "list")
	if r.out != "" || !strings.Contains(r.errOut, "No profiles yet") {
		t.Errorf("empty list: out %q err %q", r.out, r.errOut)
	}
	mustRun(t, "profile", "set", "dev", "endpoint=dev.example.com", "auth=mtls")
	mustRun(t, "profile", "set", "local", "endpoint=localhost")
	mustRun(t, "profile", "use", "dev")
	r = mustRun(t, "profile", "ls")
	want := "* dev    dev.example.com  mtls\n  local  localhost\n"
	if r.out != want {
		t.Errorf("list:\n%q\nwant\n%q", r.out, want)
	}
	r = mustRun(t, "profile", "list", "-o", "json")
	var got struct {
		Current  string
		Profiles []struct {
			Name     string
			Current  bool
			Endpoint string
		}
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Current != "dev" || len(got.Profiles) != 2 || !got.Profiles[0].Current || got.Profiles[1].Current || got.Profiles[1].Endpoint != "localhost" {
		t.Errorf("json: %+v", got)
	}
}

func TestSet(t *testing.T) {
	s := home(t)
	r := mustRun(t, "profile", "set", "dev", "endpoint=h.example.com", "ca_file=/tmp/ca.pem", "password=hunter2", "-o", "json")
	if strings.Contains(r.out+r.errOut, "hunter2") {
		t.Errorf("set echoed the secret: %s %s", r.out, r.errOut)
	}
	var got struct {
		Created bool
		Set     []struct {
			Name  string
			Value any
		}
	}
	json.Unmarshal([]byte(r.out), &got)
	if !got.Created || len(got.Set) != 3 || got.Set[1].Name != "ca-file" || got.Set[2].Value != "****" {
		t.Errorf("json: %s", r.out)
	}
	values, err := s.Load("dev")
	if err != nil || values["ca-file"] != "/tmp/ca.pem" || values["password"] != "hunter2" {
		t.Errorf("stored %v, %v", values, err)
	}

	r = mustRun(t, "profile", "set", "dev", "port=8883")
	if !strings.HasPrefix(r.errOut, "Updated profile dev") || strings.Contains(r.errOut, "hunter2") {
		t.Errorf("text: %q", r.errOut)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"dev", "enpoint=x"}, `unknown setting "enpoint": did you mean "endpoint"?`},
		{[]string{"dev", "auth=bogus"}, `invalid value "bogus" for auth`},
		{[]string{"dev", "keepalive=soon"}, `invalid value "soon" for keepalive`},
		{[]string{"dev", "port=-1"}, `must not be negative`},
		{[]string{"dev", "endpoint"}, `want key=value`},
		{[]string{"Dev", "endpoint=x"}, `invalid profile name "Dev"`},
		{[]string{"dev"}, `give the profile name and at least one key=value`},
	} {
		r := run(t, "", append([]string{"profile", "set"}, tt.args...)...)
		if r.code() != 2 || !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("set %v: exit %d, %v; want 2 and %q", tt.args, r.code(), r.err, tt.want)
		}
	}
	if values, _ := s.Load("dev"); values["endpoint"] != "h.example.com" || values["port"] != "8883" {
		t.Errorf("a failed set changed the profile: %v", values)
	}
}

func TestSetSecretFromStdin(t *testing.T) {
	s := home(t)
	r := run(t, "s3cret-line\nignored\n", "profile", "set", "dev", "pkcs12_password", "endpoint=h")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if strings.Contains(r.out+r.errOut, "s3cret") || !strings.Contains(r.errOut, "pkcs12-password=****") {
		t.Errorf("output: %q %q", r.out, r.errOut)
	}
	if values, _ := s.Load("dev"); values["pkcs12-password"] != "s3cret-line" {
		t.Errorf("stored %q", values["pkcs12-password"])
	}
	r = run(t, "", "profile", "set", "dev", "password")
	if r.code() != 2 || !strings.Contains(r.err.Error(), "stdin is empty") {
		t.Errorf("empty stdin: %v", r.err)
	}
	r = run(t, "a\n", "profile", "set", "dev", "password", "pkcs11-pin")
	if r.code() != 2 || !strings.Contains(r.err.Error(), "one secret") {
		t.Errorf("two secrets from stdin: %v", r.err)
	}
}

func TestUnsetUseDelete(t *testing.T) {
	s := home(t)
	mustRun(t, "profile", "set", "dev", "endpoint=h", "port=1883", "username=u")
	r := mustRun(t, "profile", "unset", "dev", "port", "client_id", "username")
	if !strings.Contains(r.errOut, "Removed port, username from profile dev") {
		t.Errorf("unset: %q", r.errOut)
	}
	if values, _ := s.Load("dev"); len(values) != 1 {
		t.Errorf("after unset: %v", values)
	}
	if r := run(t, "", "profile", "unset", "dev", "prot"); r.code() != 2 || !strings.Contains(r.err.Error(), `did you mean "port"`) {
		t.Errorf("unset unknown key: %v", r.err)
	}
	if r := run(t, "", "profile", "use", "nope"); r.code() != 2 || !strings.Contains(r.err.Error(), "known profiles: dev") {
		t.Errorf("use nope: %v", r.err)
	}
	r = mustRun(t, "profile", "use", "dev", "-o", "json")
	if !strings.Contains(r.out, `"current": "dev"`) {
		t.Errorf("use json: %s", r.out)
	}
	r = mustRun(t, "profile", "delete", "dev")
	if !strings.Contains(r.errOut, "it was current") {
		t.Errorf("delete: %q", r.errOut)
	}
	if cur, _ := s.Current(); cur != "" || s.Exists("dev") {
		t.Errorf("after delete: current %q, exists %v", cur, s.Exists("dev"))
	}
	if r := run(t, "", "profile", "delete", "dev"); r.code() != 2 {
		t.Errorf("second delete: exit %d, %v", r.code(), r.err)
	}
}

// A broken current profile must not lock the user out of the commands
// that repair it.
func TestBrokenCurrentProfileCanBeRepaired(t *testing.T) {
	s := home(t)
	mustRun(t, "profile", "set", "dev", "endpoint=h")
	mustRun(t, "profile", "use", "dev")
	os.WriteFile(s.Path("dev"), []byte("endpoint: h\nenpoint: typo\n"), 0o600)

	if r := run(t, "", "profile", "show"); r.code() != 2 || !strings.Contains(r.err.Error(), `did you mean "endpoint"`) {
		t.Errorf("show: exit %d, %v", r.code(), r.err)
	}
	r := mustRun(t, "profile", "list")
	if !strings.Contains(r.out, "(invalid") {
		t.Errorf("list: %q", r.out)
	}
	mustRun(t, "profile", "unset", "dev", "enpoint")
	mustRun(t, "profile", "show")
}

func TestValidate(t *testing.T) {
	home(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "CA")
	leaf := ca.Client(t, "thing", testpki.Options{NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	cert, key := leaf.Files(t, dir, "thing")
	mustRun(t, "profile", "set", "dev", "cert="+cert, "key="+key, "key-password=kp-secret")

	r := mustRun(t, "profile", "validate", "dev")
	for _, want := range []string{"ok    endpoint  host localhost", "ok    cert      " + cert + ": CN=thing", "ok    key", "ok    cert+key"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("missing %q in:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "kp-secret") {
		t.Errorf("validate shows a secret")
	}

	mustRun(t, "profile", "set", "dev", "ca-file="+filepath.Join(dir, "missing.pem"))
	r = run(t, "", "profile", "validate", "dev", "-o", "json")
	if r.code() != 2 || r.err.Error() != "profile dev: 1 of 5 checks failed" {
		t.Errorf("exit %d, %v", r.code(), r.err)
	}
	var got struct {
		OK     bool
		Checks []certfile.Check
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v: %s", err, r.out)
	}
	if got.OK || len(got.Checks) != 5 || got.Checks[3].Setting != "ca-file" || got.Checks[3].Status != certfile.CheckFail {
		t.Errorf("json: %s", r.out)
	}
	// No profile selected: only the endpoint is checked.
	r = mustRun(t, "profile", "validate")
	if strings.TrimSpace(r.out) != "ok    endpoint  host localhost" {
		t.Errorf("validate with no profile:\n%s", r.out)
	}
}

// A 3.1.1 profile that holds an MQTT 5-only setting fails validate, as
// every command would refuse it before connecting.
func TestValidateMQTT311(t *testing.T) {
	home(t)
	mustRun(t, "profile", "set", "old", "mqtt-version=3.1.1", "session-expiry=60")
	r := run(t, "", "profile", "validate", "old")
	if r.code() != 2 || !strings.Contains(r.out, "FAIL  mqtt-version") || !strings.Contains(r.out, "--session-expiry: MQTT 5 only") {
		t.Errorf("exit %d, %v:\n%s", r.code(), r.err, r.out)
	}
	mustRun(t, "profile", "unset", "old", "session-expiry")
	mustRun(t, "profile", "validate", "old")
}

func TestFlagParsing(t *testing.T) {
	home(t)
	factory := func() *cmdutil.Factory {
		ios, _, _, _ := cmdutil.Test()
		return cmdutil.NewFactory(ios, "test")
	}

	var gotShow *ShowOptions
	cmd := NewCmdShow(factory(), func(o *ShowOptions) error { gotShow = o; return nil })
	cmd.SetArgs([]string{"dev"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if gotShow == nil || gotShow.Name != "dev" || gotShow.Resolve == nil {
		t.Errorf("show opts: %+v", gotShow)
	}

	var gotSet *SetOptions
	cmd = NewCmdSet(factory(), func(o *SetOptions) error { gotSet = o; return nil })
	cmd.SetArgs([]string{"dev", "a=b", "c"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if gotSet.Name != "dev" || strings.Join(gotSet.Args, " ") != "a=b c" || gotSet.Output != "text" {
		t.Errorf("set opts: %+v", gotSet)
	}

	for _, args := range [][]string{{}, {"a", "b"}} {
		cmd := NewCmdUse(factory(), func(*UseOptions) error { t.Error("runF called"); return nil })
		cmd.SetArgs(args)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.Execute(); errs.KindOf(err) != errs.Usage {
			t.Errorf("use %v: %v, want a usage error", args, err)
		}
	}
}

// Behaviour without cobra: xRun with hand-built options.
func TestDeleteRunWithOptions(t *testing.T) {
	s := home(t)
	s.Save("dev", nil)
	ios, _, out, errOut := cmdutil.Test()
	if err := deleteRun(&DeleteOptions{IO: ios, Store: s, Output: "json", Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"deleted": "dev"`) || errOut.Len() != 0 {
		t.Errorf("out %q err %q", out, errOut)
	}
}

func TestCompletion(t *testing.T) {
	home(t)
	mustRun(t, "profile", "set", "dev", "endpoint=h", "port=1")
	mustRun(t, "profile", "set", "prod", "endpoint=p")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"profile", "use", ""}, []string{"dev", "prod"}},
		{[]string{"profile", "show", ""}, []string{"dev", "prod"}},
		{[]string{"profile", "show", "dev", ""}, nil},
		{[]string{"profile", "set", "dev", "auth="}, []string{"auth=none", "auth=mtls", "auth=custom"}},
		{[]string{"profile", "set", "dev", "endp"}, []string{"endpoint=\tbroker host"}},
		{[]string{"profile", "unset", "dev", ""}, []string{"endpoint", "port"}},
	} {
		r := mustRun(t, append([]string{"__complete"}, tt.args...)...)
		for _, w := range tt.want {
			if !strings.Contains(r.out, w) {
				t.Errorf("complete %v: missing %q in:\n%s", tt.args, w, r.out)
			}
		}
		if tt.want == nil && strings.Contains(r.out, "dev") {
			t.Errorf("complete %v: want no names:\n%s", tt.args, r.out)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestShowJSONGolden checks `profile show -o json` against
// testdata/show.json: numbers as numbers, booleans as booleans, durations
// as flag text, secrets as ****.
func TestShowJSONGolden(t *testing.T) {
	dir := home(t)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "IOTCTL_") && k != "IOTCTL_HOME" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	mustRun(t, "profile", "set", "dev", "endpoint=dev.example.com", "port=8883", "keepalive=90",
		"clean-start=false", "username=bob", "password=pw-S3CR3T", "alpn=a,b", "max-reconnects=3")
	t.Setenv("IOTCTL_CONNECT_TIMEOUT", "5s") // profile show takes no connection flags
	r := mustRun(t, "--profile", "dev", "profile", "show", "-o", "json")
	got := strings.ReplaceAll(r.out, dir.Dir, "$IOTCTL_HOME")
	if strings.Contains(got, "S3CR3T") {
		t.Fatalf("secret printed:\n%s", got)
	}
	golden(t, "show.json", got)
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	clitest.Golden(t, name, got, *update)
}

// TestSelectionSaysWhy: list and show say which profile is current and
// what selected it (--profile, IOTCTL_PROFILE, the selection file); an
// empty --profile or IOTCTL_PROFILE means no profile; use --none and use -
// clear the selection (issue 13, item 6).
func TestSelectionSaysWhy(t *testing.T) {
	store := home(t)
	t.Setenv("IOTCTL_PROFILE", "")
	os.Unsetenv("IOTCTL_PROFILE")
	mustRun(t, "profile", "set", "dev", "endpoint=dev.example.com")
	mustRun(t, "profile", "set", "prod", "endpoint=prod.example.com")
	mustRun(t, "profile", "use", "dev")
	selFile := filepath.Join(store.Dir, "current")

	type listJSON struct {
		Current       string `json:"current"`
		CurrentSource string `json:"current_source"`
		SelectionFile string `json:"selection_file"`
	}
	type showDoc struct {
		Profile       string `json:"profile"`
		ProfileFile   string `json:"profile_file"`
		ProfileSource string `json:"profile_source"`
		SelectionFile string `json:"selection_file"`
	}
	tests := []struct {
		name     string
		env      []string // IOTCTL_PROFILE, when set
		args     []string
		current  string
		source   string
		listWhy  string // list's stderr line
		showLine string // show's first line
	}{
		{"selection file", nil, nil, "dev", "selection", "* current: dev, selected by 'iotctl profile use' (" + selFile + ")\n",
			"profile: dev (" + store.Path("dev") + "), selected by 'iotctl profile use' (" + selFile + ")"},
		{"IOTCTL_PROFILE", []string{"prod"}, nil, "prod", "IOTCTL_PROFILE", "* current: prod, selected by IOTCTL_PROFILE\n",
			"profile: prod (" + store.Path("prod") + "), selected by IOTCTL_PROFILE"},
		{"--profile", []string{"dev"}, []string{"--profile", "prod"}, "prod", "--profile", "* current: prod, selected by --profile\n",
			"profile: prod (" + store.Path("prod") + "), selected by --profile"},
		{"--profile ''", nil, []string{"--profile", ""}, "", "--profile", "No current profile: --profile is empty\n", "profile: (none: --profile is empty)"},
		{"IOTCTL_PROFILE=''", []string{""}, nil, "", "IOTCTL_PROFILE", "No current profile: IOTCTL_PROFILE is empty\n", "profile: (none: IOTCTL_PROFILE is empty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != nil {
				t.Setenv("IOTCTL_PROFILE", tt.env[0])
			}
			r := mustRun(t, append(tt.args, "profile", "list")...)
			mark := map[string]string{"dev": " ", "prod": " "}
			if tt.current != "" {
				mark[tt.current] = "*"
			}
			want := mark["dev"] + " dev   dev.example.com\n" + mark["prod"] + " prod  prod.example.com\n"
			if r.out != want || r.errOut != tt.listWhy {
				t.Errorf("list:\n%s%s\nwant:\n%s%s", r.out, r.errOut, want, tt.listWhy)
			}
			var lj listJSON
			if err := json.Unmarshal([]byte(mustRun(t, append(tt.args, "profile", "list", "-o", "json")...).out), &lj); err != nil {
				t.Fatal(err)
			}
			wantSel := ""
			if tt.source == "selection" {
				wantSel = selFile
			}
			if lj.Current != tt.current || lj.CurrentSource != tt.source || lj.SelectionFile != wantSel {
				t.Errorf("list -o json: %+v", lj)
			}

			r = mustRun(t, append(tt.args, "profile", "show")...)
			if first, _, _ := strings.Cut(r.out, "\n"); first != tt.showLine {
				t.Errorf("show: %q\nwant   %q", first, tt.showLine)
			}
			var sd showDoc
			if err := json.Unmarshal([]byte(mustRun(t, append(tt.args, "profile", "show", "-o", "json")...).out), &sd); err != nil {
				t.Fatal(err)
			}
			wantFile := ""
			if tt.current != "" {
				wantFile = store.Path(tt.current)
			}
			if sd.Profile != tt.current || sd.ProfileSource != tt.source || sd.ProfileFile != wantFile || sd.SelectionFile != wantSel {
				t.Errorf("show -o json: %+v", sd)
			}
		})
	}

	// use --none and use - clear the selection; the profiles stay.
	for _, args := range [][]string{{"--none"}, {"-"}} {
		mustRun(t, "profile", "use", "prod")
		r := mustRun(t, append([]string{"profile", "use"}, args...)...)
		if !strings.Contains(r.errOut, "No profile selected (was prod)") {
			t.Errorf("use %v: %q", args, r.errOut)
		}
		if _, err := os.Stat(selFile); !os.IsNotExist(err) {
			t.Errorf("use %v: the selection file is still there (%v)", args, err)
		}
		r = mustRun(t, "profile", "list")
		if strings.Contains(r.out, "*") || r.errOut != "No current profile: none selected: use --profile NAME, IOTCTL_PROFILE or 'iotctl profile use NAME'\n" {
			t.Errorf("list after use %v:\n%s%s", args, r.out, r.errOut)
		}
		if !store.Exists("prod") {
			t.Errorf("use %v removed the profile", args)
		}
	}
	r := mustRun(t, "profile", "use", "--none", "-o", "json")
	if strings.TrimSpace(r.out) != `{"current":"","previous":""}` && !strings.Contains(r.out, `"previous": ""`) {
		t.Errorf("use --none -o json: %s", r.out)
	}
	if r := run(t, "", "profile", "use", "--none", "dev"); r.code() != 2 {
		t.Errorf("use --none dev: exit %d, want 2: %v", r.code(), r.err)
	}
	if r := run(t, "", "profile", "use"); r.code() != 2 {
		t.Errorf("use: exit %d, want 2: %v", r.code(), r.err)
	}
}

// TestSetWarnsAboutMissingFiles: a file setting that names no file is
// stored, with one warning per such file that says how to check it
// (issue 13, item 7); existing files and other settings warn nothing.
func TestSetWarnsAboutMissingFiles(t *testing.T) {
	home(t)
	dir := t.TempDir()
	exists := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(exists, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "profile", "set", "t1", "cert=/nonexistent.pem")
	want := "iotctl: warning: cert file /nonexistent.pem does not exist; check with: iotctl profile validate t1\n"
	if !strings.HasSuffix(r.errOut, want) || strings.Count(r.errOut, "warning") != 1 {
		t.Errorf("stderr:\n%s\nwant it to end with\n%s", r.errOut, want)
	}
	if v, err := (&profilestore.Store{Dir: os.Getenv("IOTCTL_HOME")}).Load("t1"); err != nil || v["cert"] != "/nonexistent.pem" {
		t.Errorf("stored %v, %v", v, err)
	}

	missing := map[string]string{
		"key":           "key file",
		"ca-file":       "ca-file",
		"password-file": "password-file",
		"pkcs11-lib":    "pkcs11-lib",
		"pkcs12-file":   "pkcs12-file",
		"proxy-ca-file": "proxy-ca-file",
	}
	args := []string{"profile", "set", "t2", "endpoint=localhost", "ca-file=" + exists}
	for name := range missing {
		if name != "ca-file" {
			args = append(args, name+"="+filepath.Join(dir, "no-"+name))
		}
	}
	r = mustRun(t, args...)
	delete(missing, "ca-file") // it exists
	for name, what := range missing {
		w := fmt.Sprintf("iotctl: warning: %s %s does not exist; check with: iotctl profile validate t2\n", what, filepath.Join(dir, "no-"+name))
		if !strings.Contains(r.errOut, w) {
			t.Errorf("no warning %q in\n%s", w, r.errOut)
		}
	}
	if n := strings.Count(r.errOut, "warning"); n != len(missing) {
		t.Errorf("%d warnings, want %d:\n%s", n, len(missing), r.errOut)
	}
	// Every file setting of Defs is covered.
	for _, d := range profile.Defs {
		if _, ok := missing[d.Name]; d.FileValue && !ok && d.Name != "ca-file" && d.Name != "cert" {
			t.Errorf("file setting %s is not tested", d.Name)
		}
	}

	r = mustRun(t, "profile", "set", "t3", "cert="+dir, "-o", "json")
	var got struct{ Warnings []string }
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "is a folder") || !strings.Contains(r.errOut, "is a folder") {
		t.Errorf("json %s, stderr %s", r.out, r.errOut)
	}
	if r := mustRun(t, "profile", "set", "t4", "ca-file="+exists, "endpoint=localhost"); strings.Contains(r.errOut, "warning") {
		t.Errorf("warned about an existing file: %s", r.errOut)
	}
}
