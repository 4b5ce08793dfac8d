package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/iotsvc"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

// DefaultGrace is how long `jobs run` lets COMMAND go on after SIGINT or
// SIGTERM: short enough that reporting the status and disconnecting still
// end within 3 s of the signal.
const DefaultGrace = time.Second

// reportAfterGrace bounds the final status update after a signal, and
// closeAfterGrace the disconnect, counted from the end of --grace.
const (
	reportAfterGrace = 700 * time.Millisecond
	closeAfterGrace  = shutdown.Budget - DefaultGrace
)

// RunOptions are `jobs run`'s.
type RunOptions struct {
	Common
	Once        bool
	Grace       time.Duration
	StepTimeout time.Duration
	Command     []string

	// StopExtra asks the root for more time to stop (Factory.StopExtra).
	StopExtra func(time.Duration)
}

// NewCmdRun returns `iotctl jobs run`.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{StopExtra: func(d time.Duration) { f.StopExtra.Store(int64(d)) }}
	cmd := &cobra.Command{
		Use:   "run [--thing T] [--once] [--grace DUR] [--step-timeout DUR] -- COMMAND [ARGS...]",
		Short: "Run a command for every job execution of the thing (a job agent)",
		Long: `A job agent for one thing. It subscribes to
$aws/things/<thing>/jobs/notify-next, starts the next pending execution
(StartNextPendingJobExecution: IN_PROGRESS with --step-timeout) and runs
COMMAND with:

  stdin                         the job document (JSON)
  IOTCTL_JOB_ID                 the job ID
  IOTCTL_JOB_EXECUTION_NUMBER   the execution number
  IOTCTL_THING_NAME             the thing name

(iotctl's own IOTCTL_* settings, secrets included, are not passed on.)
COMMAND's stdout and stderr go to iotctl's stderr. Exit status 0 marks the
execution SUCCEEDED, anything else FAILED with statusDetails exitCode and
stderr (its last lines, up to 1024 characters, line breaks as \n). Then it
waits for the next job; with --once it exits after one execution.

When the service ends the execution while COMMAND runs (TIMED_OUT at the
step timeout, CANCELED, REMOVED: a notify-next says so), COMMAND is killed
and the service's status stands; the agent kills it at --step-timeout too
(and reports FAILED if the service has not). The agent reconnects after a lost
connection, asks for the next job again, and never runs an execution
(job ID and execution number) twice: a status it could not report is sent
again. An execution left IN_PROGRESS by an agent that did not stop cleanly
(killed, crashed) is the next one for the service: it runs again.

On SIGINT or SIGTERM it lets COMMAND finish for up to --grace (default 1s),
kills it (with its process group) after that, reports the status and exits
130. With the default --grace that is all over within 3 s of the signal; a
longer --grace delays the exit by as much. A second signal exits at once
(and leaves COMMAND running).

stdout has one line per finished execution: "<jobId> #<n> <STATUS> (exit
<code>)", or with -o json one object per line (job_id, execution_number,
status, exit_code, reported).`,
		Example: `  iotctl jobs run --thing sensor-7 -- ./update.sh
  iotctl --profile dev1 jobs run --once -- sh -c 'jq -r .version | xargs ./flash'
  iotctl jobs run --thing sensor-7 --step-timeout 30m --grace 20s -- ./long-update.sh`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errs.Usagef("jobs run: no command: give it after --, e.g. iotctl jobs run -- ./update.sh")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Once, "once", false, "exit after one execution (waiting for one if none is pending)")
	cmdutil.DurationVar(fl, &opts.Grace, "grace", DefaultGrace, "after SIGINT/SIGTERM, let COMMAND run this long before killing it; over 1s delays the exit past 3 s")
	cmdutil.DurationVar(fl, &opts.StepTimeout, "step-timeout", 10*time.Minute, "time an execution may take (whole minutes, up to 7 days); COMMAND is killed after it")
	opts.register(f, cmd)
	return cmd
}

// execution is a JobExecution of the Jobs MQTT API.
type execution struct {
	JobID           string          `json:"jobId"`
	ThingName       string          `json:"thingName"`
	Status          string          `json:"status"`
	ExecutionNumber int64           `json:"executionNumber"`
	VersionNumber   int64           `json:"versionNumber"`
	JobDocument     json.RawMessage `json:"jobDocument"`
}

func (e *execution) key() string { return e.JobID + "#" + strconv.FormatInt(e.ExecutionNumber, 10) }

// result is one line of stdout.
type result struct {
	JobID           string `json:"job_id"`
	ExecutionNumber int64  `json:"execution_number"`
	Status          string `json:"status"`
	ExitCode        int    `json:"exit_code"`
	Reported        bool   `json:"reported"`
}

// agent is one `jobs run`.
type agent struct {
	opts        *RunOptions
	cl          *client
	thing       string
	errOut      io.Writer
	out         cmdutil.Output
	stream      *cmdutil.Stream
	stepTimeout time.Duration
	stepMinutes int64
	wake        chan struct{}
	// changed: notify-next arrived (the running execution may have been
	// timed out or cancelled by the service).
	changed chan struct{}
	// done: executions run, by key, with the status reported (or to
	// report again).
	done map[string]*finished
}

type finished struct {
	ex       *execution
	outcome  outcome
	reported bool
	resent   bool
}

func runRun(ctx context.Context, opts *RunOptions) error {
	if opts.Grace < 0 {
		return errs.Usagef("--grace %s: give a duration of 0 or more", opts.Grace)
	}
	minutes, err := stepMinutes("--step-timeout", opts.StepTimeout)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath(opts.Command[0]); err != nil {
		return errs.Usagef("jobs run: command %q: %v: give a program on PATH or a path to one", opts.Command[0], unwrapExec(err))
	}
	p, err := opts.prepare()
	if err != nil {
		return err
	}
	if opts.Grace > DefaultGrace && opts.StopExtra != nil {
		opts.StopExtra(opts.Grace - DefaultGrace)
	}
	a := &agent{
		opts: opts, thing: p.thing, errOut: p.stderr,
		out:         cmdutil.Output{Format: p.st.Output},
		stepTimeout: time.Duration(minutes) * time.Minute, stepMinutes: minutes,
		wake: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		done: map[string]*finished{},
	}
	a.stream = a.out.Stream(opts.IO.Out)
	var connected atomic.Bool
	cl, err := p.dial(ctx, session.Options{
		Reconnect: true,
		Warn:      func(msg string) { fmt.Fprintf(p.stderr, "iotctl: warning: %s\n", msg) },
		OnConnect: func(session.Capabilities) {
			// After a reconnect a notification may have been missed:
			// ask for the next job again.
			if connected.Swap(true) {
				a.poke()
			}
		},
	})
	if err != nil {
		return err
	}
	a.cl = cl
	cl.closeAfter = opts.Grace + closeAfterGrace
	defer cl.close(ctx)
	err = a.loop(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return errs.New(errs.Interrupted, context.Cause(ctx))
	}
	return err
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// poke wakes the loop to ask for the next job.
func (a *agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *agent) logf(format string, args ...any) {
	if a.cl.st.Verbose {
		fmt.Fprintf(a.errOut, format+"\n", args...)
	}
}

func (a *agent) warnf(format string, args ...any) {
	fmt.Fprintf(a.errOut, "iotctl: warning: "+format+"\n", args...)
}

func (a *agent) loop(ctx context.Context) error {
	if err := a.cl.svc.Watch(ctx, a.cl.topic("notify-next"), func(*iotsvc.Reply) error {
		a.poke()
		select {
		case a.changed <- struct{}{}:
		default:
		}
		return nil
	}); err != nil {
		return err
	}
	first := true
	for {
		select { // a notification before this start-next is answered by it
		case <-a.wake:
		default:
		}
		ex, err := a.startNext(ctx, first)
		first = false
		if err != nil {
			return err
		}
		if ex != nil {
			if f := a.done[ex.key()]; f != nil {
				// Already run: its status did not arrive.
				if f.resent {
					ex = nil // the service keeps it pending: wait for a change
				} else {
					f.resent = true
					a.logf("%s #%d ran already: reporting its status again", ex.JobID, ex.ExecutionNumber)
					if err := a.report(ctx, f); err != nil {
						return err
					}
					continue
				}
			}
		}
		if ex == nil {
			a.logf("no pending job for %s: waiting for notify-next", a.thing)
			select {
			case <-a.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			case <-a.cl.sess.Done():
				return a.cl.sess.Err()
			}
		}
		a.logf("%s #%d: running %s", ex.JobID, ex.ExecutionNumber, a.opts.Command[0])
		f := &finished{ex: ex, outcome: a.execute(ctx, ex)}
		a.done[ex.key()] = f
		if err := a.report(ctx, f); err != nil {
			return err
		}
		if f.outcome.Interrupted || ctx.Err() != nil {
			return ctx.Err()
		}
		if a.opts.Once {
			return nil
		}
	}
}

// startNext starts the next pending execution; nil when there is none.
// The first request's failure ends the run (no service, no permission);
// later requests are retried while the connection comes back.
func (a *agent) startNext(ctx context.Context, first bool) (*execution, error) {
	body := map[string]any{"stepTimeoutInMinutes": a.stepMinutes}
	for {
		rep, err := a.cl.request(ctx, a.opts.Timeout, "start-next", body)
		if err != nil {
			if !first && ctx.Err() == nil && errs.KindOf(err) == errs.Timeout {
				a.warnf("start-next: no answer in %s: trying again", a.opts.Timeout)
				continue
			}
			return nil, err
		}
		var ans struct {
			Execution *execution `json:"execution"`
		}
		if err := json.Unmarshal(rep.Payload, &ans); err != nil {
			return nil, errs.New(errs.Unexpected, fmt.Errorf("start-next: the service's answer is not JSON: %v", err))
		}
		if ans.Execution != nil && ans.Execution.JobID == "" {
			return nil, nil
		}
		if ans.Execution != nil && !jobIDRE().MatchString(ans.Execution.JobID) {
			// Its topics would be others (/, + and # in them): not run.
			return nil, errs.New(errs.Unexpected, fmt.Errorf("start-next: the service sent the job ID %q: not a job ID (1 to 64 characters of a-z A-Z 0-9 _ -): not run", ans.Execution.JobID))
		}
		return ans.Execution, nil
	}
}

// report sends the execution's final status, again after a timeout while
// the run goes on; after a signal, within the grace's bounds. A rejection
// is a warning: the agent goes on with the next job.
func (a *agent) report(ctx context.Context, f *finished) error {
	o := f.outcome
	if o.Ended {
		return a.print(f) // the service decided the status
	}
	body := map[string]any{"status": o.Status, "executionNumber": f.ex.ExecutionNumber}
	if len(o.Details) > 0 {
		body["statusDetails"] = o.Details
	}
	op := f.ex.JobID + "/update"
	for attempt := 1; ; attempt++ {
		var rctx context.Context
		var cancel context.CancelFunc
		if ctx.Err() != nil {
			rctx, cancel = shutdown.Context(ctx, a.opts.Timeout, a.opts.Grace+reportAfterGrace)
		} else {
			rctx, cancel = context.WithTimeout(ctx, a.opts.Timeout)
		}
		_, err := a.cl.svc.Do(rctx, iotsvc.Request{Topic: a.cl.topic(op), Body: body})
		cancel()
		var rej *iotsvc.Rejected
		switch {
		case err == nil:
			f.reported = true
		case errors.As(err, &rej) && attempt > 1 && (rej.Code == "InvalidStateTransition" || rej.Code == "TerminalStateReached"):
			f.reported = true // an earlier attempt got through
		case errors.As(err, &rej):
			a.warnf("%s #%d: reporting %s: %v", f.ex.JobID, f.ex.ExecutionNumber, o.Status, err)
		case ctx.Err() == nil && errs.KindOf(err) == errs.Timeout:
			a.warnf("%s #%d: reporting %s: no answer in %s: trying again", f.ex.JobID, f.ex.ExecutionNumber, o.Status, a.opts.Timeout)
			continue
		case ctx.Err() != nil:
			a.warnf("%s #%d: could not report %s before exiting: %v", f.ex.JobID, f.ex.ExecutionNumber, o.Status, err)
		default:
			return err
		}
		return a.print(f)
	}
}

func (a *agent) print(f *finished) error {
	r := result{JobID: f.ex.JobID, ExecutionNumber: f.ex.ExecutionNumber, Status: f.outcome.Status, ExitCode: f.outcome.ExitCode, Reported: f.reported || f.outcome.Ended}
	if a.out.JSON() {
		return a.stream.Write(r)
	}
	line := fmt.Sprintf("%s #%d %s (exit %d)", r.JobID, r.ExecutionNumber, r.Status, r.ExitCode)
	if r.ExitCode < 0 {
		line = fmt.Sprintf("%s #%d %s (%s)", r.JobID, r.ExecutionNumber, r.Status, f.outcome.Details["reason"])
	}
	if !r.Reported {
		line += " [not reported]"
	}
	_, err := fmt.Fprintln(a.opts.IO.Out, line)
	return err
}
