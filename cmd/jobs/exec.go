package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/procgroup"
	"github.com/iotctl/iotctl/internal/shutdown"
)

// stderrLines is how many of COMMAND's last stderr lines go into the
// statusDetails of a failed execution (within maxDetailValue characters).
const stderrLines = 10

// outcome is how an execution ended and what the agent reports.
type outcome struct {
	Status   string // SUCCEEDED or FAILED
	ExitCode int    // -1: no exit status (not started, killed)
	Details  map[string]string
	// Interrupted: a signal arrived while COMMAND ran.
	Interrupted bool
	// Ended: the service ended the execution while COMMAND ran (Status is
	// its status: TIMED_OUT, CANCELED, REMOVED); nothing to report.
	Ended bool
}

// execute runs COMMAND for one execution: the job document on stdin, the
// job in the environment, its output on iotctl's stderr. It returns when
// COMMAND ended: by itself, killed at the step timeout, or killed --grace
// after a signal (ctx cancelled).
func (a *agent) execute(ctx context.Context, ex *execution) outcome {
	cmd := exec.Command(a.opts.Command[0], a.opts.Command[1:]...)
	cmd.Env = cmdutil.ChildEnv(os.Environ(),
		"IOTCTL_JOB_ID="+ex.JobID,
		"IOTCTL_JOB_EXECUTION_NUMBER="+strconv.FormatInt(ex.ExecutionNumber, 10),
		"IOTCTL_THING_NAME="+a.thing,
	)
	doc := bytes.TrimSpace(ex.JobDocument)
	if len(doc) == 0 {
		doc = []byte("{}")
	}
	cmd.Stdin = bytes.NewReader(append(doc, '\n'))
	tl := &tail{max: 16 << 10}
	cmd.Stdout = a.errOut
	cmd.Stderr = io.MultiWriter(a.errOut, tl)
	// A grandchild that keeps the output pipe open must not hold Wait.
	cmd.WaitDelay = time.Second
	procgroup.Own(cmd)
	if err := cmd.Start(); err != nil {
		return outcome{Status: "FAILED", ExitCode: -1, Details: map[string]string{"reason": detailValue("could not start the command: " + err.Error())}}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var step <-chan time.Time
	if a.stepTimeout > 0 {
		t := time.NewTimer(a.stepTimeout)
		defer t.Stop()
		step = t.C
	}
	// A notification while COMMAND runs may mean the service ended the
	// execution (step timeout, cancellation): look, and stop COMMAND then.
	gone := make(chan string, 1)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go a.watchEnd(wctx, ex, gone)

	var err error
	var killed, ended string
	interrupted := false
	select {
	case err = <-done:
	case ended = <-gone:
		procgroup.Kill(cmd)
		killed = "killed: the service set " + ended
		err = <-done
	case <-step:
		procgroup.Kill(cmd)
		killed = fmt.Sprintf("killed at the step timeout (%s): the service times the execution out", a.stepTimeout)
		err = <-done
	case <-ctx.Done():
		interrupted = true
		grace := time.NewTimer(time.Until(shutdown.StoppedAt(ctx).Add(a.opts.Grace)))
		defer grace.Stop()
		select {
		case err = <-done:
		case <-grace.C:
			procgroup.Kill(cmd)
			killed = fmt.Sprintf("killed %s after iotctl was interrupted (--grace)", a.opts.Grace)
			err = <-done
		}
	}
	out := outcome{Status: "SUCCEEDED", ExitCode: 0, Details: map[string]string{}, Interrupted: interrupted}
	var ee *exec.ExitError
	switch {
	case ended != "":
		out.Status, out.ExitCode, out.Ended = ended, -1, true
		out.Details["reason"] = detailValue(killed)
	case killed != "":
		out.Status, out.ExitCode = "FAILED", -1
		out.Details["reason"] = detailValue(killed)
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		out.Status, out.ExitCode = "FAILED", ee.ExitCode()
	case errors.As(err, &ee):
		out.Status, out.ExitCode = "FAILED", -1
		out.Details["reason"] = detailValue("the command ended: " + ee.String())
	case errors.Is(err, exec.ErrWaitDelay): // exited 0, output left open
	default:
		out.Status, out.ExitCode = "FAILED", -1
		out.Details["reason"] = detailValue("the command ended: " + err.Error())
	}
	if out.ExitCode >= 0 {
		out.Details["exitCode"] = strconv.Itoa(out.ExitCode)
	}
	if out.Status == "FAILED" {
		if s := tl.lines(stderrLines); s != "" {
			out.Details["stderr"] = detailValue(s)
		}
	}
	return out
}

// watchEnd sends the execution's status on gone when a notification shows
// the service ended it (a status other than QUEUED or IN_PROGRESS), until
// ctx ends.
func (a *agent) watchEnd(ctx context.Context, ex *execution, gone chan<- string) {
	op := ex.JobID + "/get"
	body := map[string]any{"executionNumber": ex.ExecutionNumber}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.changed:
		}
		rep, err := a.cl.request(ctx, a.opts.Timeout, op, body)
		if err != nil {
			continue // the next notification asks again
		}
		var ans struct {
			Execution *execution `json:"execution"`
		}
		if json.Unmarshal(rep.Payload, &ans) != nil || ans.Execution == nil {
			continue
		}
		if s := ans.Execution.Status; s != "QUEUED" && s != "IN_PROGRESS" {
			a.logf("%s #%d: the service ended it: %s", ex.JobID, ex.ExecutionNumber, s)
			gone <- s
			return
		}
	}
}
