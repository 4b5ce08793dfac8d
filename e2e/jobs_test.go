package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// TestJobsBrokerCommand: `iotctl broker --iot` run as a command creates
// jobs from --job and, while it runs, from its jobs folder; a device
// drives them with iotctl pub and sees replies and notifications with
// iotctl sub; --state-dir keeps them.
func TestJobsBrokerCommand(t *testing.T) {
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	allow := testpki.Write(t, w.dir, "allow.json", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`))
	doc := testpki.Write(t, w.dir, "doc.json", []byte(`{"operation":"update"}`))
	jobsDir, stateDir := filepath.Join(w.dir, "jobs"), filepath.Join(w.dir, "state")
	if err := os.Mkdir(jobsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	broker := iotctl(t, nil, "broker", "--iot", "--listen", "", "--tls-listen", "127.0.0.1:0",
		"--tls-cert", w.certFile, "--tls-key", w.keyFile, "--client-ca", w.clientCAFile,
		"--policy", iot.PrefixCert+leaf.ID()+"="+allow, "--job", "fw=dev1,dev2:"+doc, "--jobs-dir", jobsDir, "--state-dir", stateDir)
	port := broker.stdout.awaitMatch(t, broker, regexp.MustCompile(`listening mqtts://127\.0\.0\.1:(\d+)\n`))[1]
	mtls := []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", port}

	const prefix = "$aws/things/dev1/jobs/"
	sub := iotctl(t, nil, append([]string{"sub", "--debug", "-v", "--client-id", "dev1-sub", "-C", "5",
		"-t", prefix + "start-next/accepted", "-t", prefix + "notify", "-t", prefix + "notify-next"}, mtls...)...)
	sub.stderr.awaitMatch(t, sub, regexp.MustCompile(`<- SUBACK`))
	pub := func(topic, msg string) {
		t.Helper()
		run(t, nil, 0, append([]string{"pub", "-q", "1", "--client-id", "dev1-pub", "-t", prefix + topic, "-m", msg}, mtls...)...)
	}
	pub("start-next", `{"clientToken":"s1","stepTimeoutInMinutes":5}`)
	sub.stdout.awaitMatch(t, sub, regexp.MustCompile(`notify \{"jobs":\{"IN_PROGRESS"`))
	// A job added to the folder while the broker runs.
	tmp := filepath.Join(jobsDir, ".reboot.json")
	if err := os.WriteFile(tmp, []byte(`{"targets":["dev1"],"document":{"operation":"reboot"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(jobsDir, "reboot.json")); err != nil {
		t.Fatal(err)
	}
	sub.stdout.awaitMatch(t, sub, regexp.MustCompile(`"jobId":"reboot"`))
	pub("fw/update", `{"status":"SUCCEEDED"}`)
	sub.expect(t, 0)

	var topics []string
	for _, line := range strings.Split(strings.TrimSpace(sub.stdout.String()), "\n") {
		topic, _, _ := strings.Cut(line, " ")
		topics = append(topics, strings.TrimPrefix(topic, prefix))
	}
	if got := strings.Join(topics, " "); got != "start-next/accepted notify notify notify notify-next" {
		t.Errorf("device got %s:\n%s", got, sub.stdout.String())
	}
	out := sub.stdout.String()
	if !strings.Contains(out, `"clientToken":"s1"`) || !strings.Contains(out, `"status":"IN_PROGRESS"`) ||
		!strings.Contains(out, `notify-next {"execution":{"executionNumber":1,"jobDocument":{"operation":"reboot"},"jobId":"reboot"`) {
		t.Errorf("device got:\n%s", out)
	}
	if !strings.Contains(broker.stderr.String(), `msg="IoT: job created" job=reboot targets=dev1`) {
		t.Errorf("broker stderr:\n%s", broker.stderr.String())
	}
	for _, f := range []string{"fw.json", "reboot.json"} {
		if _, err := os.Stat(filepath.Join(stateDir, "jobs", f)); err != nil {
			t.Errorf("state directory: %v", err)
		}
	}
}
