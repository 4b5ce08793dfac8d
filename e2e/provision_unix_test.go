//go:build unix

package e2e

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// TestProvisionSIGTERM: SIGTERM while RegisterThing waits for a slow
// pre-provisioning hook ends provision within the 3 s contract as
// interrupted (130), with nothing written. The hook says it started
// through one FIFO and waits on another, which the test opens at the end,
// so no process outlives the test.
func TestProvisionSIGTERM(t *testing.T) {
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	for _, f := range []string{started, release} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w := newWorld(t)
	claim, claimCert, claimKey := w.device(t, testpki.EC)
	gen := run(t, nil, 0, "policy", "gen", "--provisioning", "--template", "Slow", "--account", "123456789012", "--region", "us-east-1")
	w.start(t, iot.Config{
		Policies:              []iot.Policy{{Principal: iot.PrefixCert + claim.ID(), Doc: mustParse(t, gen.stdout.String())}},
		NamedPolicies:         []iot.NamedPolicy{{Name: "DevicePolicy", Document: []byte(deviceTemplatePolicy)}},
		ProvisioningTemplates: []iot.ProvisioningTemplate{{Name: "Slow", Body: []byte(fleetTemplate), Hook: "echo started > " + started + "; cat " + release + " >/dev/null; echo '{\"allowProvisioning\": true}'"}},
	})
	t.Cleanup(func() {
		// Let the hook finish: once its cat opened the FIFO, opening it
		// for writing and closing it ends the cat.
		opened := make(chan struct{})
		go func() {
			defer close(opened)
			if f, err := os.OpenFile(release, os.O_WRONLY, 0); err == nil {
				f.Close()
			}
		}()
		select {
		case <-opened:
		case <-time.After(wait):
			t.Error("the hook never waited for its release")
		}
	})

	out := filepath.Join(dir, "out")
	p := iotctl(t, nil, "provision", "--template", "Slow", "--param", "SerialNumber=1", "--out", out, "--timeout", "50s",
		"--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS), "--cert", claimCert, "--key", claimKey)
	hookStarted := make(chan struct{})
	go func() {
		defer close(hookStarted)
		if f, err := os.Open(started); err == nil { // blocks until the hook opens it
			io.Copy(io.Discard, f) // to the hook's close: never a broken pipe
			f.Close()
		}
	}()
	select {
	case <-hookStarted:
	case <-p.done:
		t.Fatalf("provision exited %d before the hook ran\nstderr: %s", p.code, p.stderr.String())
	case <-time.After(wait):
		t.Fatal("the hook did not start")
	}
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.expect(t, 130)
	if took := time.Since(signalled); took > 3*time.Second {
		t.Errorf("provision took %s after SIGTERM, over the 3 s contract", took)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out made: %v", err)
	}
}
