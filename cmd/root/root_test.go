package root

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

type result struct {
	out, errOut string
	err         error
	f           *cmdutil.Factory
	cmd         *cobra.Command // the root, after Execute
}

// run executes the real command tree with test streams.
func run(t *testing.T, args ...string) result {
	t.Helper()
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	cmd := NewCmdRoot(f)
	err := Execute(context.Background(), cmd, args)
	return result{out.String(), errOut.String(), err, f, cmd}
}

func home(t *testing.T) *profilestore.Store {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("IOTCTL_HOME", dir)
	t.Setenv("IOTCTL_PROFILE", "") // restored after the test
	os.Unsetenv("IOTCTL_PROFILE")  // set but empty means no profile
	return &profilestore.Store{Dir: dir}
}

// setDefault changes a setting's default for one test; the root reads Defs
// when it is built.
func setDefault(t *testing.T, name, value string) {
	t.Helper()
	for i := range profile.Defs {
		if profile.Defs[i].Name == name {
			old := profile.Defs[i].Default
			profile.Defs[i].Default = value
			t.Cleanup(func() { profile.Defs[i].Default = old })
			return
		}
	}
	t.Fatalf("no setting %s", name)
}

// TestPrecedence gives one setting by default, profile, env and flag in every
// combination and checks the value, its source and the typed field.
func TestPrecedence(t *testing.T) {
	settings := []struct {
		name string
		zero string // the default when the default is "not given"
		// values by source: default, profile, env; the flag's arguments and
		// the text they resolve to
		def, prof, env string
		flag           []string
		flagText       string
		typed          func(*profile.Settings) string
	}{
		{"endpoint", "", "def.example.com", "prof.example.com", "env.example.com",
			[]string{"--endpoint", "flag.example.com"}, "flag.example.com",
			func(s *profile.Settings) string { return s.Endpoint }},
		{"keepalive", "0s", "11s", "22s", "33", []string{"--keepalive", "44s"}, "44s",
			func(s *profile.Settings) string { return s.Keepalive.String() }},
		{"clean-start", "false", "true", "false", "true", []string{"--clean-start=false"}, "false",
			func(s *profile.Settings) string { return fmt.Sprint(s.CleanStart) }},
		{"alpn", "", "d1", "p1,p2", "e1,e2", []string{"--alpn", "f1", "--alpn", "f2"}, "f1,f2",
			func(s *profile.Settings) string { return strings.Join(s.ALPN, ",") }},
	}
	typedOf := map[string]func(string) string{
		"endpoint":    func(s string) string { return s },
		"keepalive":   func(s string) string { d, _ := profile.ParseDuration(s); return d.String() },
		"clean-start": func(s string) string { return fmt.Sprint(s == "true") },
		"alpn":        func(s string) string { return s },
	}
	for _, st := range settings {
		for mask := range 16 {
			hasDef, hasProf, hasEnv, hasFlag := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0
			name := fmt.Sprintf("%s/def=%v,profile=%v,env=%v,flag=%v", st.name, hasDef, hasProf, hasEnv, hasFlag)
			t.Run(name, func(t *testing.T) {
				store := home(t)
				want, wantSrc := st.zero, profile.FromDefault
				if hasDef {
					setDefault(t, st.name, st.def)
					want = st.def
				} else {
					setDefault(t, st.name, st.zero)
				}
				if hasProf {
					if err := store.Save("p", map[string]string{st.name: st.prof}); err != nil {
						t.Fatal(err)
					}
					if err := store.Use("p"); err != nil {
						t.Fatal(err)
					}
					want, wantSrc = st.prof, profile.FromProfile
				}
				env := ""
				if hasEnv {
					env = st.env
					want, wantSrc = st.env, profile.FromEnv
				}
				t.Setenv(profile.EnvName(st.name), env)
				// whoami --offline lists the settings that are not
				// defaults with their sources; it takes the connection flags.
				args := []string{"whoami", "--offline", "-o", "json"}
				if hasFlag {
					args = append(args, st.flag...)
					want, wantSrc = st.flagText, profile.FromFlag
				}

				r := run(t, args...)
				// An empty endpoint is whoami's error, reported in its JSON.
				if r.err != nil && !(st.name == "endpoint" && want == "") {
					t.Fatalf("%v\n%s", r.err, r.errOut)
				}
				var got struct {
					Profile  string
					Settings []profile.Entry
				}
				if err := json.Unmarshal([]byte(r.out), &got); err != nil {
					t.Fatalf("%v: %s", err, r.out)
				}
				i := slices.IndexFunc(got.Settings, func(e profile.Entry) bool { return e.Name == st.name })
				switch {
				case i < 0 && wantSrc != profile.FromDefault:
					t.Fatalf("%s missing from %s", st.name, r.out)
				case i >= 0:
					if e := got.Settings[i]; e.Value != want || e.Source != wantSrc {
						t.Errorf("%s = %q from %s, want %q from %s", st.name, e.Value, e.Source, want, wantSrc)
					}
				}
				// The typed value, resolved from whoami's flags as the command did.
				whoami, _, err := r.cmd.Find([]string{"whoami"})
				if err != nil {
					t.Fatal(err)
				}
				s, err := profile.Resolve(cmdutil.SettingFlags(whoami), store)
				if err != nil {
					t.Fatal(err)
				}
				if typed, wantTyped := st.typed(s), typedOf[st.name](want); typed != wantTyped {
					t.Errorf("typed %s = %q, want %q", st.name, typed, wantTyped)
				}
			})
		}
	}
}

func TestCompletions(t *testing.T) {
	store := home(t)
	store.Save("dev", nil)
	store.Save("prod", nil)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--profile", ""}, []string{"dev", "prod", ":4"}},
		{[]string{"pub", "--auth", ""}, profile.Defs[2].Enum},
		{[]string{"sub", "--limits", ""}, []string{"auto", "aws-iot", "mqtt5"}},
		{[]string{"-o", ""}, []string{"text", "json"}},
		{[]string{"--output", ""}, []string{"text", "json"}},
		{[]string{"whoami", "--transport", ""}, []string{"tcp", "websocket"}},
		{[]string{"bench", "--endpoint", ""}, []string{":4"}},
		{[]string{"help", ""}, []string{"exit-codes", "environment", "profiles", "embedded-broker", "profile"}},
		{[]string{"profile", "validate", "--auth", ""}, profile.Defs[2].Enum},
		{[]string{"profile", "use", ""}, []string{"dev", "prod"}},
	}
	for _, tt := range tests {
		r := run(t, append([]string{"__complete"}, tt.args...)...)
		if r.err != nil {
			t.Fatalf("%v: %v", tt.args, r.err)
		}
		lines := strings.Split(r.out, "\n")
		for _, w := range tt.want {
			if !slices.ContainsFunc(lines, func(l string) bool { return l == w || strings.HasPrefix(l, w+"\t") }) {
				t.Errorf("complete %q: missing %q in:\n%s", tt.args, w, r.out)
			}
		}
	}
	// --cert completes file names: cobra's default directive (0).
	if r := run(t, "__complete", "pubsub", "--cert", ""); !strings.Contains(r.out, ":0\n") {
		t.Errorf("--cert completion: %s", r.out)
	}
}

func TestHelpTopics(t *testing.T) {
	home(t)
	r := run(t, "help", "exit-codes")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, e := range cmdutil.ExitCodes {
		if !strings.Contains(r.out, fmt.Sprintf("  %-5d %s\n", e.Code, e.Meaning)) {
			t.Errorf("exit-codes lacks %d", e.Code)
		}
	}

	r = run(t, "help", "environment")
	for _, want := range []string{"IOTCTL_PROFILE", "IOTCTL_HOME", "IOTCTL_PASSWORD", "IOTCTL_PKCS11_PIN", "IOTCTL_PKCS12_PASSWORD", "flag > env > profile > default",
		"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "SSLKEYLOGFILE", "TERM=dumb"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("environment lacks %s", want)
		}
	}
	for _, d := range profile.Defs {
		if !strings.Contains(r.out, "  "+d.Env()+" ") {
			t.Errorf("environment lacks %s", d.Env())
		}
	}

	r = run(t, "help", "profiles")
	for _, want := range []string{"~/.iotctl/profiles/<name>.yaml", "current", "0600", "0700", "flag > IOTCTL_* variable > profile > default"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("profiles lacks %q", want)
		}
	}
	// One example per auth method, each a valid profile.
	methods := map[string]bool{}
	for _, ex := range ProfileExamples {
		values, err := profilestore.Parse(ex.Name+".yaml", []byte(ex.YAML))
		if err != nil {
			t.Errorf("example %s: %v", ex.Name, err)
		}
		methods[values["auth"]] = true
		if !strings.Contains(r.out, strings.SplitN(ex.YAML, "\n", 2)[0]) {
			t.Errorf("example %s not shown", ex.Name)
		}
	}
	auth, _ := profile.Lookup("auth")
	for _, m := range auth.Enum {
		if !methods[m] {
			t.Errorf("no example profile for auth %s", m)
		}
	}

	r = run(t, "--help")
	if !strings.Contains(r.out, "Additional help topics:") || !strings.Contains(r.out, "exit-codes") {
		t.Errorf("root help lacks the topics:\n%s", r.out)
	}
	r = run(t, "help", "bogus")
	if cmdutil.ExitCode(r.err) != 2 || !strings.Contains(r.err.Error(), `unknown help topic "bogus"`) {
		t.Errorf("help bogus: %v", r.err)
	}
	r = run(t, "help", "profile")
	if r.err != nil || !strings.Contains(r.out, "iotctl profile [command]") {
		t.Errorf("help profile: %v\n%s", r.err, r.out)
	}
}

func TestVersionJSON(t *testing.T) {
	home(t)
	r := run(t, "version", "-o", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.out), &v); err != nil || v.Version == "" || v.Commit == "" || v.Go == "" {
		t.Errorf("version -o json: %v %s", err, r.out)
	}
	// A broken current profile does not hide the version.
	store := home(t)
	store.Save("dev", nil)
	store.Use("dev")
	t.Setenv("IOTCTL_PROFILE", "gone")
	if r := run(t, "version"); r.err != nil || !strings.HasPrefix(r.out, "iotctl ") {
		t.Errorf("version with a broken profile: %v", r.err)
	}
}

// The unknown-profile error names the known ones and is a usage error.
func TestUnknownProfile(t *testing.T) {
	store := home(t)
	store.Save("dev", nil)
	r := run(t, "--profile", "nope", "profile", "show")
	if cmdutil.ExitCode(r.err) != 2 || !strings.Contains(r.err.Error(), "known profiles: dev") {
		t.Errorf("%v", r.err)
	}
}

// The README's exit-code table is the one of cmdutil, and the README opens
// with the two commands a newcomer runs.
func TestReadme(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, e := range cmdutil.ExitCodes {
		if row := fmt.Sprintf("| %d | %s |\n", e.Code, e.Meaning); !strings.Contains(readme, row) {
			t.Errorf("README lacks the exit-code row %q", row)
		}
	}
	if !strings.HasPrefix(readme, "# iotctl\n\n```sh\ngo run ./cmd/iotctl pubsub\ngo test ./...\n```\n") {
		t.Errorf("README does not open with the two commands")
	}
}

// pubsub and bench start the embedded broker the same way: a broker that
// cannot listen is exit 3 for both, said in one line.
func TestEmbeddedBrokerStartFailureSameExitCode(t *testing.T) {
	home(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	old := connect.EmbeddedListen
	connect.EmbeddedListen = busy.Addr().String()
	defer func() { connect.EmbeddedListen = old }()
	for _, args := range [][]string{{"pubsub", "--count", "1"}, {"bench", "--count", "1"}} {
		r := run(t, args...)
		if code := cmdutil.ExitCode(r.err); code != 3 || !strings.Contains(r.err.Error(), "start the embedded broker") {
			t.Errorf("%s: err %v (exit %d), want exit 3", args[0], r.err, code)
		}
	}
}

// Connection settings are flags of the commands that connect only: the
// broker's help fits on one screen and takes none of them.
func TestConnectionFlagsOnlyWhereTheyBelong(t *testing.T) {
	home(t)
	r := run(t, "broker", "--help")
	if n := strings.Count(r.out, "\n"); r.err != nil || n >= 60 {
		t.Errorf("broker --help: %d lines (err %v):\n%s", n, r.err, r.out)
	}
	for _, args := range [][]string{
		{"broker", "--cert", "x"},
		{"policy", "gen", "--cert", "x"},
		{"profile", "list", "--endpoint", "x"},
		{"version", "--port", "1"},
		{"bench", "merge", "--endpoint", "x", "a.json"},
	} {
		r := run(t, args...)
		if code := cmdutil.ExitCode(r.err); code != 2 || !strings.Contains(fmt.Sprint(r.err), "unknown flag") {
			t.Errorf("%q: err %v (exit %d), want unknown flag (exit 2)", args, r.err, code)
		}
	}
	for _, c := range []string{"pub", "sub", "pubsub", "bench", "whoami", "profile validate"} {
		r := run(t, append(strings.Fields(c), "--help")...)
		for _, want := range []string{"\nConnection flags:\n", "\nTLS and certificates flags:\n", "\nAWS flags:\n", "\nCustom authorizer flags:\n", "\nProxy flags:\n", "\nSession flags:\n", "--endpoint", "\nGlobal Flags:\n"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("%s --help lacks %q", c, want)
			}
		}
	}
}

// A malformed current profile, or a bad IOTCTL_* connection variable,
// breaks only the commands that connect, with an error naming the file.
func TestBrokenProfileBreaksOnlyWhatConnects(t *testing.T) {
	store := home(t)
	if err := store.Save("dev", map[string]string{"endpoint": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := store.Use("dev"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(store.Dir, "profiles", "dev.yaml")
	if err := os.WriteFile(file, []byte("endpoint: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IOTCTL_PORT", "not-a-port")

	r := run(t, "policy", "gen", "--topic", "a", "--client-id", "c", "--account", "123456789012", "--region", "us-east-1")
	if r.err != nil || !strings.Contains(r.out, "iot:Connect") {
		t.Errorf("policy gen: %v\n%s", r.err, r.out)
	}
	// The broker gets past its settings to its own checks.
	r = run(t, "broker", "--max-packet-size", "1")
	if r.err == nil || !strings.Contains(r.err.Error(), "--max-packet-size") {
		t.Errorf("broker: %v", r.err)
	}
	for _, args := range [][]string{{"version"}, {"profile", "list"}, {"bench", "merge", "/nonexistent.json"}} {
		if r := run(t, args...); r.err != nil && strings.Contains(r.err.Error(), "profile") {
			t.Errorf("%q: %v", args, r.err)
		}
	}
	t.Setenv("IOTCTL_PORT", "")
	r = run(t, "pub", "-t", "a", "-m", "x")
	if code := cmdutil.ExitCode(r.err); code != 2 || !strings.Contains(fmt.Sprint(r.err), file) {
		t.Errorf("pub: err %v (exit %d), want exit 2 naming %s", r.err, code, file)
	}
}
