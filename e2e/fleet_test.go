package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// TestFleetDoneWhen is issue 16's "Done when", offline, with only the
// iotctl binary: `broker --iot` with a provisioning template, a claim
// certificate whose policy `policy gen --provisioning` wrote and a watched
// jobs folder; `provision --save-profile dev1` makes the device;
// `--profile dev1 whoami` shows the new thing connected; a job dropped
// into the folder is run by `--profile dev1 jobs run -- ./update.sh`, and
// `jobs describe` shows it SUCCEEDED.
func TestFleetDoneWhen(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("update.sh is a POSIX shell script")
	}
	w := newWorld(t)
	claim, claimCert, claimKey := w.device(t, testpki.EC)
	claimPolicy, _ := genPolicy(t, w.dir, "claim-policy.json", "--provisioning", "--template", "FleetTemplate")
	devicePolicy, _ := genPolicy(t, w.dir, "device-policy.json", "--thing", "--jobs")
	template := testpki.Write(t, w.dir, "template.json", []byte(fleetTemplate))
	jobsDir := filepath.Join(w.dir, "jobs")
	if err := os.MkdirAll(jobsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b := iotctl(t, nil, "broker", "--iot", "--listen", "", "--tls-listen", "127.0.0.1:0",
		"--tls-cert", w.certFile, "--tls-key", w.keyFile, "--client-ca", w.clientCAFile,
		"--policy", iot.PrefixCert+claim.ID()+"="+claimPolicy,
		"--named-policy", "DevicePolicy="+devicePolicy,
		"--provisioning-template", "FleetTemplate="+template,
		"--jobs-dir", jobsDir, "--state-dir", filepath.Join(w.dir, "state"))
	port := b.stdout.awaitMatch(t, b, regexp.MustCompile(`listening mqtts://127\.0\.0\.1:(\d+)\n`))[1]

	env := []string{"IOTCTL_HOME=" + filepath.Join(w.dir, "iotctl-home")}
	dev1 := filepath.Join(w.dir, "dev1")
	p := run(t, env, 0, "provision", "--endpoint", "127.0.0.1", "--port", port, "--ca-file", w.caFile,
		"--cert", claimCert, "--key", claimKey, "--template", "FleetTemplate", "--param", "SerialNumber=0042",
		"--create-key", "--out", dev1, "--save-profile", "dev1", "-o", "json")
	res := decodeProvision(t, p)
	if res.ThingName != "dev-0042" || res.Profile != "dev1" {
		t.Fatalf("provision: %+v", res)
	}

	who := run(t, env, 0, "--profile", "dev1", "whoami", "-o", "json").stdout.String()
	var rep struct {
		Settings []struct{ Name, Value, Source string } `json:"settings"`
		Identity struct {
			CertificateID string `json:"certificate_id"`
		} `json:"identity"`
		Connack *struct {
			ClientID string `json:"client_id"`
		} `json:"connack"`
	}
	if err := json.Unmarshal([]byte(who), &rep); err != nil {
		t.Fatalf("whoami: %v\n%s", err, who)
	}
	thing := ""
	for _, s := range rep.Settings {
		if s.Name == "thing-name" {
			thing = s.Value
		}
	}
	if thing != "dev-0042" || rep.Identity.CertificateID != res.CertificateID || rep.Connack == nil || rep.Connack.ClientID != "dev-0042" {
		t.Fatalf("whoami does not show the new thing connected:\n%s", who)
	}

	// A job for the new thing, added while the broker runs.
	job := `{"targets":["dev-0042"],"document":{"operation":"update","version":"2.0.0"}}`
	tmp := filepath.Join(w.dir, "fw-2.json")
	if err := os.WriteFile(tmp, []byte(job), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(jobsDir, "fw-2.json")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(w.dir, "update.sh")
	out := filepath.Join(w.dir, "updated")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The folder is read about once a second: wait until the job is there
	// (jobs list), then run it.
	deadline := time.Now().Add(wait)
	for {
		l := run(t, env, 0, "--profile", "dev1", "jobs", "list").stdout.String()
		if strings.Contains(l, "fw-2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job never appeared:\n%s\nbroker:\n%s", l, b.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := run(t, env, 0, "--profile", "dev1", "jobs", "run", "--once", "--", script)
	if got := r.stdout.String(); got != "fw-2 #1 SUCCEEDED (exit 0)\n" {
		t.Errorf("jobs run printed %q", got)
	}
	if got, _ := os.ReadFile(out); strings.TrimSpace(string(got)) != `{"operation":"update","version":"2.0.0"}` {
		t.Errorf("update.sh got %q on stdin", got)
	}
	desc := run(t, env, 0, "--profile", "dev1", "jobs", "describe", "fw-2").stdout.String()
	if !strings.Contains(desc, `"status": "SUCCEEDED"`) {
		t.Errorf("jobs describe:\n%s", desc)
	}
}
