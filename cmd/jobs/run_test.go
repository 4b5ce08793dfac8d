package jobs

import (
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
)

// agentScript is COMMAND in these tests: it logs the job to $LOG, fails
// when the document says so, and with "wait" waits for the file it names.
const agentScript = `
doc=$(cat)
echo "$IOTCTL_JOB_ID $IOTCTL_JOB_EXECUTION_NUMBER $IOTCTL_THING_NAME $doc" >> "$LOG"
echo "running $IOTCTL_JOB_ID" >&2
case "$doc" in
*'"wait"'*) f=$(printf '%s' "$doc" | sed 's/.*"wait":"\([^"]*\)".*/\1/'); while [ ! -e "$f" ]; do sleep 0.02; done ;;
esac
case "$doc" in
*'"fail"'*) echo "first line" >&2; echo "bad checksum	here" >&2; exit 3 ;;
*'"hang"'*) exec sleep 600 ;;
esac
echo "done $IOTCTL_JOB_ID"
`

func needSh(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the test command is a POSIX shell script")
	}
}

// startAgent starts `iotctl jobs run` for thing; LOG is its job log.
func startAgent(t *testing.T, endpoint, thing, log string, flags ...string) *clitest.Proc {
	t.Helper()
	args := append([]string{"jobs", "run", "-v", "--endpoint", endpoint, "--thing", thing, "--timeout", "2s"}, flags...)
	args = append(args, "--", "sh", "-c", agentScript)
	return clitest.Start(t, clitest.Opts{Args: args, Env: clitest.Env(t.TempDir(), "LOG="+log)})
}

func readLog(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestRunSucceedsFailsAndWaits(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	log := filepath.Join(t.TempDir(), "log")
	w.jobs.add("t1", "ok-1", `{"version":"1.2"}`)
	w.jobs.add("t1", "bad-1", `{"fail":true}`)
	p := startAgent(t, w.endpoint(), "t1", log)

	u := w.jobs.nextUpdate(t)
	if u.JobID != "ok-1" || u.Status != "SUCCEEDED" || u.Details["exitCode"] != "0" {
		t.Fatalf("first update %+v", u)
	}
	u = w.jobs.nextUpdate(t)
	if u.JobID != "bad-1" || u.Status != "FAILED" || u.Details["exitCode"] != "3" {
		t.Fatalf("second update %+v", u)
	}
	if want := `running bad-1\nfirst line\nbad checksum\u0009here`; u.Details["stderr"] != want {
		t.Errorf("stderr detail %q, want %q", u.Details["stderr"], want)
	}
	// A job added while the agent waits comes through notify-next.
	p.WaitStderr(t, "waiting for notify-next", wait)
	w.jobs.add("t1", "ok-2", `{}`)
	if u := w.jobs.nextUpdate(t); u.JobID != "ok-2" || u.Status != "SUCCEEDED" {
		t.Fatalf("third update %+v", u)
	}
	p.Stdout.WaitFor(func(s string) bool { return strings.Contains(s, "ok-2") }, wait, p.Done())
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, wait); code != 130 {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", code, p.Stderr.String())
	}
	want := []string{`ok-1 1 t1 {"version":"1.2"}`, `bad-1 1 t1 {"fail":true}`, `ok-2 1 t1 {}`}
	if got := readLog(t, log); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the command saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantOut := "ok-1 #1 SUCCEEDED (exit 0)\nbad-1 #1 FAILED (exit 3)\nok-2 #1 SUCCEEDED (exit 0)\n"
	if got := p.Stdout.String(); got != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, wantOut)
	}
}

func TestRunOnce(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	log := filepath.Join(t.TempDir(), "log")
	w.jobs.add("t1", "a", `{}`)
	w.jobs.add("t1", "b", `{}`)
	p := startAgent(t, w.endpoint(), "t1", log, "--once", "-o", "json")
	if code := p.Wait(t, wait); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Stderr.String())
	}
	if got := w.jobs.status("t1", "b"); got != "QUEUED" {
		t.Errorf("--once touched the second job: %s", got)
	}
	if got := p.Stdout.String(); got != `{"job_id":"a","execution_number":1,"status":"SUCCEEDED","exit_code":0,"reported":true}`+"\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestRunSigtermKillsAfterGrace(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	log := filepath.Join(t.TempDir(), "log")
	w.jobs.add("t1", "hang-1", `{"hang":true}`)
	p := startAgent(t, w.endpoint(), "t1", log) // the default --grace
	p.WaitStderr(t, "running hang-1", wait)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// 130, not 1: the command killed, its status reported and the
	// session closed before the root gave up (shutdown.Limit).
	if code := p.Wait(t, wait); code != 130 {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", code, p.Stderr.String())
	}
	u := w.jobs.nextUpdate(t)
	if u.Status != "FAILED" || !strings.Contains(u.Details["reason"], "--grace") {
		t.Fatalf("update %+v", u)
	}
}

func TestRunSigtermLetsCommandFinish(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	dir := t.TempDir()
	log, gate := filepath.Join(dir, "log"), filepath.Join(dir, "gate")
	w.jobs.add("t1", "slow-1", `{"wait":"`+gate+`"}`)
	// A grace beyond the default: the root must wait for it.
	p := startAgent(t, w.endpoint(), "t1", log, "--grace", "30s")
	p.WaitStderr(t, "running slow-1", wait)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.WaitStderr(t, "SIGTERM", wait)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, wait); code != 130 {
		t.Fatalf("exit %d after SIGTERM, want 130\n%s", code, p.Stderr.String())
	}
	if u := w.jobs.nextUpdate(t); u.JobID != "slow-1" || u.Status != "SUCCEEDED" {
		t.Fatalf("update %+v", u)
	}
}

func TestRunReconnectsDuringAJob(t *testing.T) {
	needSh(t)
	b := testenv.StartBroker(t, broker.Options{})
	u, _ := url.Parse(b.URL("mqtt"))
	fake := startFake(t, b)
	dir := t.TempDir()
	log, gate := filepath.Join(dir, "log"), filepath.Join(dir, "gate")
	fake.add("t1", "slow-1", `{"wait":"`+gate+`"}`)
	p := startAgent(t, b.URL("mqtt"), "t1", log)
	p.WaitStderr(t, "running slow-1", wait)

	// The broker goes away during the job and comes back on its address.
	b.Close()
	b2 := testenv.StartBroker(t, broker.Options{Listen: u.Host})
	_ = b2
	p.WaitStderr(t, "reconnected", wait)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := fake.nextUpdate(t); got.JobID != "slow-1" || got.Status != "SUCCEEDED" {
		t.Fatalf("update %+v", got)
	}
	// Asked for the next job after the reconnect; ran nothing twice.
	fake.add("t1", "ok-2", `{}`)
	if got := fake.nextUpdate(t); got.JobID != "ok-2" {
		t.Fatalf("update %+v", got)
	}
	_ = p.Signal(syscall.SIGTERM)
	if code := p.Wait(t, wait); code != 130 {
		t.Fatalf("exit %d\n%s", code, p.Stderr.String())
	}
	if got := readLog(t, log); len(got) != 2 {
		t.Errorf("the command ran %d times, want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
}

func TestRunTwoAgents(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	dir := t.TempDir()
	for _, thing := range []string{"t1", "t2"} {
		w.jobs.add(thing, "fw", `{}`)
	}
	p1 := startAgent(t, w.endpoint(), "t1", filepath.Join(dir, "log1"))
	p2 := startAgent(t, w.endpoint(), "t2", filepath.Join(dir, "log2"))
	seen := map[string]string{}
	for range 2 {
		u := w.jobs.nextUpdate(t)
		seen[u.Thing] = u.Status
	}
	if seen["t1"] != "SUCCEEDED" || seen["t2"] != "SUCCEEDED" {
		t.Fatalf("updates %v", seen)
	}
	for i, p := range []*clitest.Proc{p1, p2} {
		_ = p.Signal(syscall.SIGTERM)
		if code := p.Wait(t, wait); code != 130 {
			t.Fatalf("agent %d: exit %d\n%s", i+1, code, p.Stderr.String())
		}
		if log := readLog(t, filepath.Join(dir, "log"+string(rune('1'+i)))); len(log) != 1 || !strings.Contains(log[0], "fw 1 t"+string(rune('1'+i))) {
			t.Errorf("agent %d ran %v", i+1, log)
		}
	}
}

// TestRunLostAnswer: the answer to the final update is lost; the agent
// asks again, and the service's "already done" counts as reported.
func TestRunLostAnswer(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	log := filepath.Join(t.TempDir(), "log")
	w.jobs.mu.Lock()
	w.jobs.loseUpdateReplies = 1
	w.jobs.mu.Unlock()
	w.jobs.add("t1", "ok-1", `{}`)
	p := startAgent(t, w.endpoint(), "t1", log, "--once", "--timeout", "300ms")
	if code := p.Wait(t, wait); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Stderr.String())
	}
	if !strings.Contains(p.Stderr.String(), "trying again") {
		t.Errorf("no retry on stderr:\n%s", p.Stderr.String())
	}
	if got := p.Stdout.String(); got != "ok-1 #1 SUCCEEDED (exit 0)\n" {
		t.Errorf("stdout %q", got)
	}
	if got := readLog(t, log); len(got) != 1 {
		t.Errorf("the command ran %d times", len(got))
	}
}

// TestRunCommandGetsNoSecrets: COMMAND (what a job document asks to do)
// does not inherit iotctl's own IOTCTL_* settings, the password among
// them; it gets the job's variables.
func TestRunCommandGetsNoSecrets(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	log := filepath.Join(t.TempDir(), "log")
	w.jobs.add("t1", "a", `{}`)
	args := []string{"jobs", "run", "--once", "--endpoint", w.endpoint(), "--thing", "t1", "--timeout", "2s",
		"--", "sh", "-c", `env > "$LOG"`}
	p := clitest.Start(t, clitest.Opts{Args: args, Env: clitest.Env(t.TempDir(), "LOG="+log, "IOTCTL_PASSWORD=hunter2-secret")})
	if code := p.Wait(t, wait); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Stderr.String())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if env := string(b); strings.Contains(env, "hunter2-secret") || !strings.Contains(env, "IOTCTL_JOB_ID=a\n") {
		t.Errorf("COMMAND's environment:\n%s", env)
	}
}

// TestRunRefusesAHostileJobID: an execution whose job ID is no job ID (a
// service gone wrong: /, wildcards, control characters) is not run, and
// the ID is shown escaped; its status topic would be another one.
func TestRunRefusesAHostileJobID(t *testing.T) {
	needSh(t)
	w := newWorld(t)
	log := filepath.Join(t.TempDir(), "log")
	w.jobs.add("t1", "x/+/#\x1b[2J", `{}`)
	p := startAgent(t, w.endpoint(), "t1", log, "--once")
	if code := p.Wait(t, wait); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, p.Stderr.String())
	}
	if errOut := p.Stderr.String(); strings.Contains(errOut, "\x1b") || !strings.Contains(errOut, "not a job ID") {
		t.Errorf("stderr %q", errOut)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Errorf("the command ran: %v", err)
	}
}
