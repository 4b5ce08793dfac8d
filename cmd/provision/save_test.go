package provision

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// TestProfileValues: the new profile keeps this run's connection settings
// (files made absolute) and drops the claim identity and the output
// settings.
func TestProfileValues(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	wd, _ := os.Getwd()
	os.Chdir(dir)
	t.Cleanup(func() { os.Chdir(wd) })
	t.Setenv("IOTCTL_THING_NAME", "claim-thing")
	st := testenv.Settings(t,
		"--endpoint", "a1-ats.iot.eu-west-1.amazonaws.com", "--port", "443", "--alpn", "x-amzn-mqtt-ca",
		"--ca-file", "ca.pem", "--cert", "claim.crt", "--key", "claim.key", "--key-password", "secret",
		"--client-id", "claim-1", "--client-id-prefix", "claim-", "--keepalive", "30s", "--limits", "aws-iot",
		"--proxy", "http://user:pw@proxy:3128", "--will-topic", "claims/lost", "-o", "json", "-v")
	got, err := profileValues(st, "dev-1", filepath.Join("out", certName), filepath.Join("out", keyName))
	if err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	want := map[string]string{
		"endpoint": "a1-ats.iot.eu-west-1.amazonaws.com", "port": "443", "alpn": "x-amzn-mqtt-ca",
		"ca-file": abs("ca.pem"), "keepalive": "30s", "limits": "aws-iot", "proxy": "http://user:pw@proxy:3128",
		"auth": "mtls", "cert": abs(filepath.Join("out", certName)), "key": abs(filepath.Join("out", keyName)),
		"client-id": "dev-1", "thing-name": "dev-1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profile values:\n got %v\nwant %v", got, want)
	}

	got, err = profileValues(st, "dev-1", filepath.Join("out", certName), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["key"]; ok {
		t.Errorf("--csr: a key in the profile: %v", got)
	}
}

// TestSaveProfileMadeMeanwhile: a profile another process made after the
// check is left alone without --force and replaced with it.
func TestSaveProfileMadeMeanwhile(t *testing.T) {
	s := &profilestore.Store{Dir: t.TempDir()}
	if err := s.Save("dev1", map[string]string{"endpoint": "theirs.example.com"}); err != nil {
		t.Fatal(err)
	}
	err := saveProfile(s, "dev1", false, map[string]string{"endpoint": "ours.example.com"})
	if cmdutil.ExitCode(err) != 2 || !strings.Contains(err.Error(), "created meanwhile") {
		t.Errorf("err = %v", err)
	}
	if got, _ := s.Load("dev1"); got["endpoint"] != "theirs.example.com" {
		t.Errorf("replaced without --force: %v", got)
	}
	if err := saveProfile(s, "dev1", true, map[string]string{"endpoint": "ours.example.com"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load("dev1"); got["endpoint"] != "ours.example.com" {
		t.Errorf("not replaced with --force: %v", got)
	}
}
