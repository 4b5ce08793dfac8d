package root

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
)

// The AWS IoT Device SDK v2 python pubsub sample's command line, spelled
// as its README does, runs unchanged against the embedded broker over
// mutual TLS; --verbosity Debug with --log_file writes the trace there.
func TestSDKSampleCommandLine(t *testing.T) {
	home(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Test Root CA")
	caFile := testpki.Write(t, dir, "AmazonRootCA1.pem", ca.PEM)
	srvCert, srvKey := ca.Server(t, "localhost", "127.0.0.1").Files(t, dir, "server")
	cert, key := ca.Client(t, "test-thing", testpki.Options{}).Files(t, dir, "thing")
	b := testenv.StartBroker(t, broker.Options{TLSListen: "127.0.0.1:0", TLSCert: srvCert, TLSKey: srvKey, ClientCA: caFile})
	u, err := url.Parse(b.URL(broker.MQTTS))
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "sample.log")
	r := run(t, "pubsub",
		"--endpoint", "localhost", "--port", u.Port(),
		"--ca_file", caFile, "--cert", cert, "--key", key,
		"--client_id", "test-sample-1", "--topic", "sdk/test/topic", "--message", "Hello World!",
		"--count", "2", "--verbosity", "Debug", "--log_file", logFile, "--is_ci", "true")
	if r.err != nil {
		t.Fatalf("sample command line: %v\n%s", r.err, r.errOut)
	}
	if got := strings.Count(r.out, "Received message on topic sdk/test/topic: Hello World! ["); got != 2 {
		t.Errorf("received %d messages, want 2:\n%s", got, r.out)
	}
	if !strings.Contains(r.errOut, "with client ID 'test-sample-1'") {
		t.Errorf("client ID not used:\n%s", r.errOut)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "CONNECT") || strings.Contains(r.errOut, "CONNACK") {
		t.Errorf("--log_file: the trace belongs in the file, not on stderr:\nfile:\n%s\nstderr:\n%s", log, r.errOut)
	}

	// The C++ samples' proxy flags, through a real tinyproxy with Basic auth.
	port, _ := strconv.Atoi(u.Port())
	proxy := testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "bob", Pass: "s3cret", ConnectPorts: []int{port}})
	host, pport, _ := net.SplitHostPort(proxy.Addr())
	sample := func(pass string) result {
		return run(t, "pubsub", "--endpoint", "localhost", "--port", u.Port(),
			"--ca_file", caFile, "--cert", cert, "--key", key, "--client_id", "test-sample-2",
			"--topic", "sdk/test/proxy", "--count", "1",
			"--proxy_host", host, "--proxy_port", pport, "--proxy_user_name", "bob", "--proxy_password", pass)
	}
	if r := sample("s3cret"); r.err != nil || strings.Count(r.out, "Received message") != 1 {
		t.Errorf("through the proxy: %v\n%s\n%s", r.err, r.errOut, proxy.Log())
	}
	if !strings.Contains(proxy.Log(), "CONNECT localhost:"+u.Port()) {
		t.Errorf("the proxy was not used:\n%s", proxy.Log())
	}
	r = sample("wrong")
	if cmdutil.ExitCode(r.err) != 3 || strings.Contains(cmdutil.Message(r.err), "wrong") {
		t.Errorf("wrong proxy password: exit %d: %v", cmdutil.ExitCode(r.err), r.err)
	}
}

// The samples' names for the settings iotctl spells differently.
func TestSDKAliases(t *testing.T) {
	home(t)
	st := testenv.Settings(t,
		"--signing_region", "eu-west-1",
		"--custom_auth_username", "u1", "--custom_auth_authorizer_name", "auth1",
		"--custom_auth_password", "pw1", "--custom_auth_token_key_name", "tk",
		"--custom_auth_token_value", "tv", "--custom_auth_authorizer_signature", "c2ln",
		"--pin", "1234", "--token_label", "tok", "--slot_id", "3", "--key_label", "k1",
		"--cognito_identity", "us-east-1:0000", "--port_override", "443",
		"--pkcs11_lib", "/lib.so", "--pkcs12_file", "f.p12", "--pkcs12_password", "p12",
		"--proxy_host", "proxy", "--proxy_port", "3128")
	got := []string{st.Region, st.AuthorizerUser, st.AuthorizerName, st.AuthorizerPass, st.TokenKeyName,
		st.TokenValue, st.TokenSignature, st.PKCS11PIN, st.PKCS11TokenLabel, st.PKCS11Slot, st.PKCS11KeyLabel,
		st.CognitoIdentityID, fmt.Sprint(st.Port), st.PKCS11Lib, st.PKCS12File, st.PKCS12Password, st.ProxyHost, fmt.Sprint(st.ProxyPort)}
	want := []string{"eu-west-1", "u1", "auth1", "pw1", "tk", "tv", "c2ln", "1234", "tok", "3", "k1",
		"us-east-1:0000", "443", "/lib.so", "f.p12", "p12", "proxy", "3128"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("settings:\n got %q\nwant %q", got, want)
	}
	// --verbosity: Debug is --debug, Info is -v.
	for _, tt := range []struct{ level, want string }{{"Debug", "debug"}, {"trace", "debug"}, {"Info", "verbose"}, {"Warn", ""}, {"None", ""}} {
		r := run(t, "version", "--verbosity", tt.level)
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, name := range []string{"debug", "verbose"} {
			if changed := r.cmd.PersistentFlags().Lookup(name).Changed; changed != (name == tt.want) {
				t.Errorf("--verbosity %s: --%s set: %v", tt.level, name, changed)
			}
		}
	}
	// Hidden: not in help.
	h := run(t, "pub", "--help").out
	for _, alias := range []string{"signing", "custom_auth", "--custom-auth", "verbosity", "log-file", "is-ci", "slot-id"} {
		if strings.Contains(h, alias) {
			t.Errorf("pub --help shows %s", alias)
		}
	}
	if r := run(t, "pub", "--verbosity", "Loud", "-t", "a", "-m", "b"); cmdutil.ExitCode(r.err) != 2 || !strings.Contains(r.err.Error(), "Trace, Debug, Info") {
		t.Errorf("--verbosity Loud: %v", r.err)
	}
}
