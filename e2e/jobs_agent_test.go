package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/policy"
)

// jobScript is the agents' COMMAND: it logs each job to $LOG, fails when
// the document says so, waits for the file a "wait" document names, and
// hangs on "hang".
const jobScript = `
doc=$(cat)
echo "$IOTCTL_JOB_ID $IOTCTL_JOB_EXECUTION_NUMBER $IOTCTL_THING_NAME" >> "$LOG"
echo "running $IOTCTL_JOB_ID" >&2
case "$doc" in
*'"wait"'*) f=$(printf '%s' "$doc" | sed 's/.*"wait":"\([^"]*\)".*/\1/'); while [ ! -e "$f" ]; do sleep 0.02; done ;;
esac
case "$doc" in
*'"fail"'*) echo "flash: bad checksum" >&2; exit 3 ;;
*'"hang"'*) exec sleep 600 ;;
esac
`

// jobsWorld is the emulator with the Jobs service, its jobs folder, a
// state directory, and devices sensor-7 and sensor-8 allowed what
// `iotctl policy gen --thing --jobs` writes.
type jobsWorld struct {
	*world
	cfg     iot.Config
	jobsDir string
	devices map[string][]string // thing → connection flags
}

func newJobsWorld(t *testing.T, setup ...func(*iot.Config)) *jobsWorld {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the job command is a POSIX shell script")
	}
	w := &jobsWorld{world: newWorld(t), jobsDir: t.TempDir(), devices: map[string][]string{}}
	gen := run(t, nil, 0, "policy", "gen", "--thing", "--jobs", "--account", "123456789012", "--region", "us-east-1")
	doc, err := policy.Parse([]byte(gen.stdout.String()))
	if err != nil {
		t.Fatalf("policy gen --jobs: %v\n%s", err, gen.stdout.String())
	}
	w.cfg = iot.Config{Account: "123456789012", Region: "us-east-1", JobsDir: w.jobsDir, StateDir: t.TempDir()}
	for _, thing := range []string{"sensor-7", "sensor-8"} {
		leaf, cert, key := w.device(t, testpki.EC)
		w.cfg.Things = append(w.cfg.Things, iot.Thing{Name: thing, Principal: iot.PrefixCert + leaf.ID()})
		w.cfg.Policies = append(w.cfg.Policies, iot.Policy{Principal: iot.PrefixCert + leaf.ID(), Doc: doc})
		w.devices[thing] = []string{"--cert", cert, "--key", key, "--client-id", thing}
	}
	for _, f := range setup {
		f(&w.cfg)
	}
	w.start(t, w.cfg)
	return w
}

// args are thing's connection flags for command args.
func (w *jobsWorld) args(thing string, args ...string) []string {
	return append(append(args, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS)), w.devices[thing]...)
}

// addJob drops a job file into the watched folder (written aside first,
// so the emulator never reads half of it).
func (w *jobsWorld) addJob(t *testing.T, id, doc string, targets ...string) {
	t.Helper()
	tg, _ := json.Marshal(targets)
	tmp := filepath.Join(w.jobsDir, "."+id)
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(`{"targets":%s,"document":%s}`, tg, doc)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.jobsDir, id+".json")); err != nil {
		t.Fatal(err)
	}
}

// execution is `jobs describe`'s execution.
func (w *jobsWorld) execution(t *testing.T, thing, id string) map[string]any {
	t.Helper()
	p := run(t, nil, 0, w.args(thing, "jobs", "describe", id)...)
	var ans struct {
		Execution map[string]any `json:"execution"`
	}
	if err := json.Unmarshal([]byte(p.stdout.String()), &ans); err != nil {
		t.Fatalf("jobs describe: %v\n%s", err, p.stdout.String())
	}
	return ans.Execution
}

func (w *jobsWorld) agent(t *testing.T, thing, log string, flags ...string) *proc {
	t.Helper()
	args := w.args(thing, append([]string{"jobs", "run", "-v"}, flags...)...)
	return iotctl(t, []string{"LOG=" + log}, append(args, "--", "sh", "-c", jobScript)...)
}

func TestJobsAgainstTheEmulator(t *testing.T) {
	w := newJobsWorld(t)
	dir := t.TempDir()
	w.addJob(t, "j1-fw", `{"version":"1.2"}`, "sensor-7")
	w.addJob(t, "j2-fail", `{"fail":true}`, "sensor-7")
	w.addJob(t, "j3-cfg", `{}`, "sensor-7", "sensor-8")

	list := run(t, nil, 0, w.args("sensor-7", "jobs", "list")...).stdout.String()
	// The folder is read once the broker runs: wait for the list.
	for !strings.Contains(list, "j3-cfg") {
		p := iotctl(t, nil, w.args("sensor-7", "jobs", "list")...)
		p.expect(t, 0)
		list = p.stdout.String()
	}
	next := run(t, nil, 0, w.args("sensor-7", "jobs", "next")...).stdout.String()
	if !strings.Contains(next, `"j1-fw"`) || !strings.Contains(next, `"1.2"`) {
		t.Fatalf("jobs next: %s", next)
	}

	// Two agents, one per thing.
	a7 := w.agent(t, "sensor-7", filepath.Join(dir, "log7"))
	a8 := w.agent(t, "sensor-8", filepath.Join(dir, "log8"))
	a7.stdout.awaitMatch(t, a7, regexp.MustCompile(`j3-cfg #1 SUCCEEDED`))
	a8.stdout.awaitMatch(t, a8, regexp.MustCompile(`j3-cfg #1 SUCCEEDED`))
	for _, a := range []*proc{a7, a8} {
		a.cmd.Process.Signal(syscall.SIGTERM)
		a.expect(t, 130)
	}
	if got := a7.stdout.String(); got != "j1-fw #1 SUCCEEDED (exit 0)\nj2-fail #1 FAILED (exit 3)\nj3-cfg #1 SUCCEEDED (exit 0)\n" {
		t.Errorf("sensor-7's agent printed:\n%s", got)
	}
	if x := w.execution(t, "sensor-7", "j1-fw"); x["status"] != "SUCCEEDED" {
		t.Errorf("j1-fw: %v", x)
	}
	x := w.execution(t, "sensor-7", "j2-fail")
	details, _ := x["statusDetails"].(map[string]any)
	if x["status"] != "FAILED" || details["exitCode"] != "3" || details["stderr"] != `running j2-fail\nflash: bad checksum` {
		t.Errorf("j2-fail: %v", x)
	}
	if x := w.execution(t, "sensor-8", "j3-cfg"); x["status"] != "SUCCEEDED" {
		t.Errorf("sensor-8 j3-cfg: %v", x)
	}

	// Rejections: exit 4 naming the service's code.
	for _, tc := range []struct {
		args []string
		code string
	}{
		{[]string{"jobs", "update", "j1-fw", "--status", "FAILED"}, "InvalidStateTransition"},
		{[]string{"jobs", "update", "j1-fw", "--status", "SUCCEEDED", "--expected-version", "1"}, "VersionMismatch"},
		{[]string{"jobs", "describe", "fw-9"}, "ResourceNotFound"},
	} {
		p := run(t, nil, 4, w.args("sensor-7", tc.args...)...)
		if !strings.Contains(p.stderr.String(), tc.code) {
			t.Errorf("%v: stderr %q, want %s", tc.args, p.stderr.String(), tc.code)
		}
	}
	// The policy is the thing's own: sensor-7 cannot ask for sensor-8's jobs.
	p := run(t, nil, 4, w.args("sensor-7", "jobs", "list", "--thing", "sensor-8")...)
	t.Logf("another thing's jobs: %s", strings.TrimSpace(p.stderr.String()))
}

func TestJobsAgentUpdateAndSigterm(t *testing.T) {
	w := newJobsWorld(t)
	dir := t.TempDir()
	// By hand: IN_PROGRESS with a step timeout, then SUCCEEDED.
	w.addJob(t, "manual-1", `{}`, "sensor-8")
	for {
		p := iotctl(t, nil, w.args("sensor-8", "jobs", "update", "manual-1", "--status", "IN_PROGRESS", "--step-timeout", "5m", "--details", "step=download")...)
		if p.wait(t) == 0 {
			if !strings.Contains(p.stdout.String(), `"IN_PROGRESS"`) {
				t.Fatalf("update: %s", p.stdout.String())
			}
			break
		}
		if !strings.Contains(p.stderr.String(), "ResourceNotFound") { // the folder not read yet
			t.Fatalf("update: exit %d: %s", p.code, p.stderr.String())
		}
	}
	run(t, nil, 0, w.args("sensor-8", "jobs", "update", "manual-1", "--status", "SUCCEEDED", "--expected-version", "2")...)

	// SIGTERM during a job that hangs: killed after --grace, FAILED.
	w.addJob(t, "hang-1", `{"hang":true}`, "sensor-7")
	a := w.agent(t, "sensor-7", filepath.Join(dir, "log"), "--grace", "300ms")
	a.stderr.awaitMatch(t, a, regexp.MustCompile(`running hang-1`))
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.expect(t, 130)
	x := w.execution(t, "sensor-7", "hang-1")
	details, _ := x["statusDetails"].(map[string]any)
	if x["status"] != "FAILED" || !strings.Contains(fmt.Sprint(details["reason"]), "--grace") {
		t.Errorf("hang-1 after SIGTERM: %v", x)
	}
}

func TestJobsAgentSurvivesABrokerRestart(t *testing.T) {
	w := newJobsWorld(t)
	dir := t.TempDir()
	log, gate := filepath.Join(dir, "log"), filepath.Join(dir, "gate")
	w.addJob(t, "slow-1", `{"wait":"`+gate+`"}`, "sensor-7")
	a := w.agent(t, "sensor-7", log)
	a.stderr.awaitMatch(t, a, regexp.MustCompile(`running slow-1`))

	// The broker restarts on its address with its state (--state-dir)
	// while the job runs.
	w.tlsListen = "127.0.0.1:" + w.port(broker.MQTTS)
	w.b.Close()
	w.start(t, w.cfg)
	a.stderr.awaitMatch(t, a, regexp.MustCompile(`reconnected`))
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a.stdout.awaitMatch(t, a, regexp.MustCompile(`slow-1 #1 SUCCEEDED \(exit 0\)\n`))
	// A job created after the restart runs too; slow-1 does not run again.
	w.addJob(t, "after-1", `{}`, "sensor-7")
	a.stdout.awaitMatch(t, a, regexp.MustCompile(`after-1 #1 SUCCEEDED`))
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.expect(t, 130)
	if x := w.execution(t, "sensor-7", "slow-1"); x["status"] != "SUCCEEDED" {
		t.Errorf("slow-1: %v", x)
	}
	b, _ := os.ReadFile(log)
	if got := strings.TrimSpace(string(b)); got != "slow-1 1 sensor-7\nafter-1 1 sensor-7" {
		t.Errorf("the command ran:\n%s", got)
	}
}

// stepTimers are the emulator's step timers, fired by the test.
type stepTimers struct {
	mu     sync.Mutex
	timers []*stepTimer
}

type stepTimer struct {
	f       func()
	stopped bool
}

func (s *stepTimers) AfterFunc(_ time.Duration, f func()) iot.Timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &stepTimer{f: f}
	s.timers = append(s.timers, t)
	return &stepStop{s: s, t: t}
}

type stepStop struct {
	s *stepTimers
	t *stepTimer
}

func (x *stepStop) Stop() bool {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	was := !x.t.stopped
	x.t.stopped = true
	return was
}

// fire runs the timers that are not stopped: the step timeouts expire.
func (s *stepTimers) fire() {
	s.mu.Lock()
	var due []func()
	for _, t := range s.timers {
		if !t.stopped {
			t.stopped = true
			due = append(due, t.f)
		}
	}
	s.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func TestJobsAgentStepTimeout(t *testing.T) {
	timers := &stepTimers{}
	w := newJobsWorld(t, func(c *iot.Config) { c.AfterFunc = timers.AfterFunc })
	dir := t.TempDir()
	w.addJob(t, "hang-1", `{"hang":true}`, "sensor-7")
	a := w.agent(t, "sensor-7", filepath.Join(dir, "log"), "--step-timeout", "1m")
	a.stderr.awaitMatch(t, a, regexp.MustCompile(`running hang-1`))
	// The step timeout expires: the service times the execution out, and
	// the agent stops the command and goes on with the next job.
	timers.fire()
	a.stdout.awaitMatch(t, a, regexp.MustCompile(`hang-1 #1 TIMED_OUT \(killed: the service set TIMED_OUT\)\n`))
	w.addJob(t, "ok-1", `{}`, "sensor-7")
	a.stdout.awaitMatch(t, a, regexp.MustCompile(`ok-1 #1 SUCCEEDED`))
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.expect(t, 130)
	if x := w.execution(t, "sensor-7", "hang-1"); x["status"] != "TIMED_OUT" {
		t.Errorf("hang-1: %v", x)
	}
}

// TestJobsDoneWhen is the flow on the binaries alone: a broker
// --iot with a job from --job, a profile for the device, `jobs run --once
// -- ./update.sh`, and `jobs describe` showing SUCCEEDED.
func TestJobsDoneWhen(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("update.sh is a POSIX shell script")
	}
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	pol, _ := genPolicy(t, w.dir, "jobs-policy.json", "--thing", "--jobs")
	doc := filepath.Join(w.dir, "update.json")
	if err := os.WriteFile(doc, []byte(`{"operation":"update","version":"1.4.2"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	principal := iot.PrefixCert + leaf.ID()
	broker := iotctl(t, nil, "broker", "--iot", "--listen", "", "--tls-listen", "127.0.0.1:0",
		"--tls-cert", w.certFile, "--tls-key", w.keyFile, "--client-ca", w.clientCAFile,
		"--policy", principal+"="+pol, "--thing", "dev1="+principal, "--job", "fw-1=dev1:"+doc)
	port := broker.stdout.awaitMatch(t, broker, regexp.MustCompile(`listening mqtts://127\.0\.0\.1:(\d+)\n`))[1]

	env := []string{"IOTCTL_HOME=" + filepath.Join(w.dir, "iotctl-home")}
	run(t, env, 0, "profile", "set", "dev1", "endpoint=127.0.0.1", "port="+port, "cert="+cert, "key="+key,
		"ca-file="+w.caFile, "client-id=dev1", "thing-name=dev1")
	script := filepath.Join(w.dir, "update.sh")
	out := filepath.Join(w.dir, "updated")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := run(t, env, 0, "--profile", "dev1", "jobs", "run", "--once", "--", script)
	if got := p.stdout.String(); got != "fw-1 #1 SUCCEEDED (exit 0)\n" {
		t.Errorf("jobs run printed %q", got)
	}
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != `{"operation":"update","version":"1.4.2"}` {
		t.Errorf("update.sh got %q on stdin", b)
	}
	desc := run(t, env, 0, "--profile", "dev1", "jobs", "describe", "fw-1").stdout.String()
	if !strings.Contains(desc, `"status": "SUCCEEDED"`) {
		t.Errorf("jobs describe:\n%s", desc)
	}
}
