package policy

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/pkg/profile"
)

// run executes `iotctl <args>` on a root like cmd/root's (settings flags,
// underscore spellings, flag errors as usage errors) and returns what
// main would: stdout, stderr with the error line, exit code. It builds its
// own root so these tests do not depend on every other command package.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runEnv(t, nil, args...)
}

// runEnv is run with only the given IOTCTL_* variables set.
func runEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("IOTCTL_HOME", t.TempDir())
	for _, d := range profile.Defs {
		t.Setenv(d.Env(), "")
	}
	t.Setenv("IOTCTL_PROFILE", "") // restored after the test
	os.Unsetenv("IOTCTL_PROFILE")  // set but empty means no profile
	for k, v := range env {
		t.Setenv(k, v)
	}
	ios, _, out, errOut := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(NewCmdPolicy(f), ios.Out, ios.ErrOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		errOut.WriteString(cmdutil.Message(err) + "\n")
		return out.String(), errOut.String(), cmdutil.ExitCode(err)
	}
	return out.String(), errOut.String(), 0
}

func TestGenSeedThroughFlags(t *testing.T) {
	want, err := os.ReadFile("gen/testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, clientFlag := range []string{"--client-id", "--client_id"} {
		out, stderr, code := run(t, "policy", "gen", "--topic", "test/topic", clientFlag, "test-*", "--region", "us-east-1", "--account", "123456789012")
		if code != 0 || out != string(want) {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr: %s", clientFlag, code, out, stderr)
		}
	}
}

func TestGenErrorsThroughFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"policy", "gen", "--topic", "t", "--account", "123456789012"}, "iotctl: policy gen: no client ID: give --client-id"},
		{[]string{"policy", "gen", "--topic", "t", "--client-id", "c"}, "iotctl: policy gen: --account is required (12 digits)"},
		{[]string{"policy", "gen", "--client-id", "c", "--account"}, "flag needs an argument"},
		{[]string{"policy", "gen", "--client-id", "c", "--output", "yaml"}, `invalid value "yaml" for output`},
	}
	for _, tt := range tests {
		out, stderr, code := run(t, tt.args...)
		if code != 2 || out != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, out, stderr, tt.want)
		}
	}
}

func TestCheckThroughFlags(t *testing.T) {
	const seed = "check/testdata/seed.json"
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{
			name:    "allow",
			args:    []string{"-p", seed, "-a", "iot:Publish", "-r", "topic/test/topic"},
			wantOut: "ALLOW: iot:Publish on " + arn + "topic/test/topic\n",
		},
		{
			name:       "deny",
			args:       []string{"-p", seed, "-a", "iot:Publish", "-r", "topic/nope"},
			wantCode:   4,
			wantOut:    "DENY: no statement allows iot:Publish on " + arn + "topic/nope\n",
			wantStderr: "iotctl: policy denies iot:Publish on " + arn + "topic/nope\n",
		},
		{
			name:     "region setting",
			args:     []string{"-p", seed, "-a", "iot:Publish", "-r", "topic/test/topic", "--region", "eu-west-1"},
			wantCode: 4,
			wantOut:  "DENY: no statement allows iot:Publish on arn:aws:iot:eu-west-1:123456789012:topic/test/topic\n",
		},
		{
			name:    "client ID from the environment",
			args:    []string{"-p", "check/testdata/thing.json", "-a", "iot:Subscribe", "-r", "topicfilter/cmd/s7/+"},
			env:     map[string]string{"IOTCTL_CLIENT_ID": "s7"},
			wantOut: "ALLOW: iot:Subscribe on arn:aws:iot:eu-west-1:111122223333:topicfilter/cmd/s7/+\n",
		},
		{
			name:     "json deny",
			args:     []string{"-p", seed, "-a", "iot:Connect", "-r", "client/prod-1", "-o", "json"},
			wantCode: 4,
			wantOut: "{\n  \"decision\": \"deny\",\n  \"effect\": \"ImplicitDeny\",\n  \"action\": \"iot:Connect\",\n  \"resource\": \"" + arn + "client/prod-1\",\n" +
				"  \"statement\": null,\n  \"reason\": \"no statement allows iot:Connect on " + arn + "client/prod-1\"\n}\n",
		},
		{
			name:       "unknown action",
			args:       []string{"-p", seed, "-a", "iot:Fly", "-r", "topic/a"},
			wantCode:   2,
			wantStderr: `iotctl: policy check: unknown action "iot:Fly"`,
		},
		{
			name:       "unknown flag",
			args:       []string{"-p", seed, "--bogus"},
			wantCode:   2,
			wantStderr: "unknown flag: --bogus",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"policy", "check"}, tt.args...)
			out, stderr, code := runEnv(t, tt.env, args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.HasPrefix(out, tt.wantOut) {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.wantOut)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
			if tt.wantCode == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			if slices.Contains(tt.args, "json") && !json.Valid([]byte(out)) {
				t.Errorf("stdout is not JSON: %q", out)
			}
		})
	}
}
