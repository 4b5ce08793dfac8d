package secrets

import (
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// TestEndpointUserinfo: mqtt://user:password@host sends that username and
// password (a mosquitto with a password file and no anonymous access
// checks both); --username/--password win over the URL; the password is
// never printed, with --debug and -v, on success and on refusal.
func TestEndpointUserinfo(t *testing.T) {
	// Characters a URL must percent-encode, to check they are decoded.
	const user, pass = "alice", "Ep@ss:w#rd/?-SECRET"
	mosquitto := secureMosquitto(t, user, pass)
	withUser := func(u *url.Userinfo) string {
		return (&url.URL{Scheme: "mqtt", User: u, Host: mosquitto.Addr()}).String()
	}
	good := withUser(url.UserPassword(user, pass))
	wrong := withUser(url.UserPassword(user, "wrong-SECRET"))
	forbidden := []string{pass, "wrong-SECRET"}

	home := t.TempDir()
	env := clitest.Env(home)
	pub := []string{"--debug", "-v", "pub", "-t", "userinfo/t", "-m", "x", "-q", "1"}
	tests := []struct {
		name string
		args []string
		env  []string
		code int
	}{
		{"URL", []string{"--endpoint", good}, nil, 0},
		{"URL, wrong password", []string{"--endpoint", wrong}, nil, 4},
		{"IOTCTL_ENDPOINT", nil, []string{"IOTCTL_ENDPOINT=" + good}, 0},
		{"URL user, --password", []string{"--endpoint", withUser(url.User(user)), "--password", pass}, nil, 0},
		{"--password wins over the URL", []string{"--endpoint", wrong, "--password", pass}, nil, 0},
		{"IOTCTL_PASSWORD wins over the URL", []string{"--endpoint", wrong}, []string{"IOTCTL_PASSWORD=" + pass}, 0},
		{"--username wins over the URL", []string{"--endpoint", good, "--username", "mallory"}, nil, 4},
		{"profile", []string{"--profile", "ui"}, nil, 0},
	}
	r := clitest.Run(t, clitest.Opts{Args: []string{"profile", "set", "ui", "endpoint=" + good}, Env: env})
	checkNoLeak(t, "profile set", r, forbidden)
	if r.Code != 0 || !strings.Contains(r.Stderr, "mqtt://alice:****@"+mosquitto.Addr()) {
		t.Fatalf("profile set: exit %d: %s", r.Code, r.Stderr)
	}
	for _, tt := range tests {
		r := clitest.Run(t, clitest.Opts{Args: append(append([]string{}, tt.args...), pub...), Env: append(append([]string{}, env...), tt.env...)})
		checkNoLeak(t, tt.name, r, forbidden)
		if r.Code != tt.code {
			t.Errorf("%s: exit %d, want %d\n%s", tt.name, r.Code, tt.code, clitest.Tail(r.Stderr, 10))
		}
		if tt.code == 0 && !strings.Contains(r.Stderr, `username="alice" password=****`) {
			t.Errorf("%s: the --debug trace does not show the CONNECT username and a masked password:\n%s", tt.name, clitest.Tail(r.Stderr, 10))
		}
	}
	if n := strings.Count(mosquitto.Log(), "u'alice'"); n < 6 {
		t.Errorf("mosquitto logged %d connections as alice, want 6:\n%s", n, mosquitto.Log())
	}

	for _, c := range [][]string{{"whoami"}, {"whoami", "-o", "json"}, {"profile", "show"}, {"profile", "show", "-o", "json"}, {"profile", "list"}, {"profile", "validate", "--connect"}} {
		r := clitest.Run(t, clitest.Opts{Args: append([]string{"--profile", "ui", "--debug", "-v"}, c...), Env: env})
		what := strings.Join(c, " ")
		checkNoLeak(t, what, r, forbidden)
		want := "mqtt://alice:****@" + mosquitto.Addr()
		if len(c) > 1 && c[1] == "validate" {
			want = "CONNACK success" // it names the address dialled
		}
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Errorf("%s: exit %d:\n%s%s", what, r.Code, r.Stdout, clitest.Tail(r.Stderr, 10))
		}
	}

	// Endpoints that do not parse: exit 2, the password masked; net/url's
	// message, which quotes the URL up to where it failed, is not shown.
	for _, ep := range []string{
		"mqtt://alice:" + pass + "@" + mosquitto.Addr(), // unencoded # and /
		"mqtt://alice:Bad-SECRET@127.0.0.1:99999",
		"ftp://alice:Bad-SECRET@127.0.0.1",
	} {
		r := clitest.Run(t, clitest.Opts{Args: append([]string{"--endpoint", ep}, pub...), Env: env})
		checkNoLeak(t, "bad endpoint "+ep, r, append(forbidden, "Bad-SECRET", "Ep@ss"))
		if r.Code != 2 || !strings.Contains(r.Stderr, "alice:****@") {
			t.Errorf("--endpoint %s: exit %d, want 2 with the URL masked: %s", ep, r.Code, r.Stderr)
		}
	}
}

// secureMosquitto is a mosquitto that admits only user with pass.
func secureMosquitto(t *testing.T, user, pass string) *testpeer.Mosquitto {
	t.Helper()
	passwd := testpeer.Require(t, "mosquitto_passwd")
	file := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(passwd, "-c", "-b", file, user, pass).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	return testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: "allow_anonymous false\npassword_file " + file})
}
