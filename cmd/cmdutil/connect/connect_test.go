package connect

import (
	"context"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/profile"
)

// settings resolves the given IOTCTL_* variables (flags are the same
// source for the rule) over defaults and no profile.
func settings(t *testing.T, env map[string]string) *profile.Settings {
	t.Helper()
	for _, d := range profile.Defs {
		t.Setenv(d.Env(), "")
	}
	t.Setenv("IOTCTL_PROFILE", "") // restored after the test
	os.Unsetenv("IOTCTL_PROFILE")  // set but empty means no profile
	for k, v := range env {
		t.Setenv(k, v)
	}
	st, err := profile.Resolve(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The one client-ID rule of every connecting command.
func TestClientIDRule(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		cmdPrefix string // the command's own default prefix (pubsub: test-)
		want      string // regexp
	}{
		{"generated", nil, "", `^iotctl-[0-9a-f]{12}$`},
		{"command prefix", nil, "test-", `^test-[0-9a-f]{12}$`},
		{"--client-id-prefix", map[string]string{"IOTCTL_CLIENT_ID_PREFIX": "dev-"}, "", `^dev-[0-9a-f]{12}$`},
		{"--client-id-prefix beats the command's", map[string]string{"IOTCTL_CLIENT_ID_PREFIX": "dev-"}, "test-", `^dev-[0-9a-f]{12}$`},
		{"--client-id", map[string]string{"IOTCTL_CLIENT_ID": "sensor-1"}, "test-", `^sensor-1$`},
		{"--client-id beats the prefix", map[string]string{"IOTCTL_CLIENT_ID": "sensor-1", "IOTCTL_CLIENT_ID_PREFIX": "dev-"}, "", `^sensor-1$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(settings(t, tt.env), Options{ClientIDPrefix: tt.cmdPrefix})
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tt.want).MatchString(c.Settings.ClientID) {
				t.Errorf("client ID %q, want %s", c.Settings.ClientID, tt.want)
			}
		})
	}
	// An empty --client-id asks the broker to assign one (a flag; the env
	// cannot say "empty"): ClientID keeps it.
	st := &profile.Settings{Entries: []profile.Entry{{Name: "client-id", Source: profile.FromFlag}}}
	if id := ClientID(st, "x-"); id != "" {
		t.Errorf("--client-id '': %q", id)
	}
	// Two generated IDs differ.
	a, b := ClientID(&profile.Settings{}, "p-"), ClientID(&profile.Settings{}, "p-")
	if a == b {
		t.Errorf("two generated client IDs are both %q", a)
	}
}

// Bad settings are usage errors before anything starts.
func TestNewConnChecks(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"endpoint":  {"IOTCTL_ENDPOINT": "mqtt://[::1"},
		"client ID": {"IOTCTL_CLIENT_ID": strings.Repeat("x", 200), "IOTCTL_ENDPOINT": "a1-ats.iot.us-east-1.amazonaws.com"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(settings(t, env), Options{})
			if cmdutil.ExitCode(err) != 2 {
				t.Errorf("err %v (exit %d), want exit 2", err, cmdutil.ExitCode(err))
			}
		})
	}
}

// An embedded broker that cannot listen is exit 3, and Close after it is
// harmless.
func TestEmbeddedStartFailure(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	old := EmbeddedListen
	EmbeddedListen = busy.Addr().String()
	defer func() { EmbeddedListen = old }()
	c, err := New(settings(t, nil), Options{Embedded: true})
	if err != nil || !c.Embedded {
		t.Fatalf("embedded %t, err %v", c != nil && c.Embedded, err)
	}
	err = c.Start(context.Background())
	c.Close(context.Background())
	if cmdutil.ExitCode(err) != 3 || !strings.Contains(err.Error(), "start the embedded broker") {
		t.Errorf("err %v (exit %d), want exit 3", err, cmdutil.ExitCode(err))
	}
}
