package broker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	embedded "github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/errs"
)

// TestJobsFlags: --job and --jobs-dir reach the emulator; bad ones are
// usage errors naming what is wrong.
func TestJobsFlags(t *testing.T) {
	dir := t.TempDir()
	doc := writeFile(t, dir, "doc.json", `{"operation": "reboot"}`)
	got, err := iotFlags(t, "--iot", "--job", "j1=dev1,dev:2:"+doc, "--jobs-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := got.config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Jobs) != 1 || cfg.Jobs[0].ID != "j1" || strings.Join(cfg.Jobs[0].Targets, " ") != "dev1 dev:2" ||
		string(cfg.Jobs[0].Document) != `{"operation": "reboot"}` || cfg.JobsDir != dir {
		t.Errorf("config %+v", cfg)
	}
	if _, err := iotFlags(t, "--jobs-dir", dir); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "--jobs-dir needs --iot") {
		t.Errorf("--jobs-dir without --iot: %v", err)
	}

	notObject := writeFile(t, dir, "list.json", `[1]`)
	for _, tt := range []struct {
		job, dir, want string
	}{
		{"j1", "", `--job "j1": want JOB_ID=THING[,THING…]:DOCUMENT_FILE`},
		{"j1=dev1", "", `--job "j1=dev1": no job document file`},
		{"j1=dev1:" + filepath.Join(dir, "missing.json"), "", "--job j1: no readable job document file"},
		{"j1=dev1:" + notObject, "", "--job: job j1: the job document must be a JSON object"},
		{"j.1=dev1:" + doc, "", `--job: job ID "j.1"`},
		{"j1=dev 1:" + doc, "", `--job: job j1: target "dev 1"`},
		{"j1=:" + doc, "", `--job: job j1: target ""`},
		{"j1=a,a:" + doc, "", "thing a is a target twice"},
		{"", filepath.Join(dir, "nope"), "--jobs-dir " + filepath.Join(dir, "nope") + ": not a folder"},
		{"", doc, "--jobs-dir " + doc + ": not a folder"},
	} {
		o := &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, JobsDir: tt.dir}
		if tt.job != "" {
			o.Jobs = []string{tt.job}
		}
		_, err := o.config()
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--job %q --jobs-dir %q: %v, want a usage error naming %q", tt.job, tt.dir, err, tt.want)
		}
	}

	// Two jobs with one ID: the emulator refuses them.
	o := &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, StateDir: filepath.Join(dir, "state"),
		Jobs: []string{"j1=dev1:" + doc, "j1=dev2:" + doc}}
	err = applyIoT(context.WithValue(context.Background(), iotKey{}, o), &embedded.Options{})
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "job j1 is given twice") {
		t.Errorf("one job ID twice: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "jobs", "j1.json")); err == nil {
		t.Errorf("a refused configuration saved a job")
	}
	o.Jobs = o.Jobs[:1]
	if err := applyIoT(context.WithValue(context.Background(), iotKey{}, o), &embedded.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "jobs", "j1.json")); err != nil {
		t.Errorf("job not in the state directory: %v", err)
	}
}
