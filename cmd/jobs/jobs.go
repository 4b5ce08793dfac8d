// Package jobs is `iotctl jobs`: the device side of the AWS IoT Jobs MQTT
// API (list, describe, next, update) and `jobs run`, a job agent that runs
// a command for every job execution of its thing.
package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/iotsvc"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

// defaultTimeout bounds each request's wait for the service's answer.
const defaultTimeout = 10 * time.Second

// NewCmdJobs returns `iotctl jobs` and its subcommands.
func NewCmdJobs(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs <command>",
		Short: "Device side of AWS IoT Jobs: list, describe, update and run job executions",
		Long: `The device side of the AWS IoT Jobs MQTT API, for one thing: --thing
(--thing-name, IOTCTL_THING_NAME, profile key thing-name), else the client
ID when one is set. Requests go to $aws/things/<thing>/jobs/..., answers
come back on .../accepted and .../rejected.

  list      pending executions (in progress and queued)
  describe  one execution (jobs/<jobId>/get)
  next      the next pending execution, without starting it
  update    set an execution's status
  run       a job agent: run a command for every execution

The answers are printed as JSON on stdout. A rejection is exit 4 naming the
service's error code (InvalidStateTransition, VersionMismatch,
ResourceNotFound, ...); no answer within --timeout is exit 5.

'iotctl broker --iot --job JOB_ID=THING:FILE' emulates the service locally;
'iotctl policy gen --jobs' writes the policy a device needs.`,
		Example: `  iotctl jobs list --thing sensor-7
  iotctl jobs describe fw-42 --thing sensor-7 --include-document
  iotctl jobs update fw-42 --thing sensor-7 --status SUCCEEDED --details version=1.4.2
  iotctl jobs run --thing sensor-7 -- ./update.sh`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCmdList(f, nil))
	cmd.AddCommand(newCmdDescribe(f, nil))
	cmd.AddCommand(newCmdNext(f, nil))
	cmd.AddCommand(newCmdUpdate(f, nil))
	cmd.AddCommand(NewCmdRun(f, nil))
	return cmd
}

// Common are the settings of every jobs subcommand.
type Common struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Timeout  time.Duration
}

// register adds the connection flags (with --thing) and --timeout to cmd.
func (c *Common) register(f *cmdutil.Factory, cmd *cobra.Command) {
	c.IO = f.IOStreams
	cmdutil.DurationVar(cmd.Flags(), &c.Timeout, "timeout", defaultTimeout, "time allowed for the service's answer to each request")
	c.Settings = f.ConnectionSettings(cmd, "thing-name")
}

// prepared is what a subcommand has after its settings were checked:
// nothing has connected yet.
type prepared struct {
	st     *profile.Settings
	thing  string
	conn   *connect.Conn
	stderr io.Writer
}

// prepare resolves and checks the settings and the thing name.
func (c *Common) prepare() (*prepared, error) {
	st, err := c.Settings()
	if err != nil {
		return nil, err
	}
	if c.Timeout <= 0 {
		return nil, errs.Usagef("--timeout %s: give a positive duration, e.g. 10s", c.Timeout)
	}
	thing, err := iotsvc.ThingName(st)
	if err != nil {
		return nil, err
	}
	stderr := &cmdutil.LockedWriter{W: c.IO.ErrOut}
	conn, err := connect.New(st, connect.Options{Stderr: stderr, Warn: func(msg string) { fmt.Fprintf(stderr, "iotctl: warning: %s\n", msg) }})
	if err != nil {
		return nil, err
	}
	return &prepared{st: conn.Settings, thing: thing, conn: conn, stderr: stderr}, nil
}

// client is a connected jobs client of one thing.
type client struct {
	*prepared
	svc  *iotsvc.Client
	sess *session.Session
	// closeAfter bounds the disconnect after a signal (default
	// shutdown.Budget).
	closeAfter time.Duration
}

// dial connects; o's Handler is set to the service client's. Close it.
func (p *prepared) dial(ctx context.Context, o session.Options) (*client, error) {
	if err := p.conn.Start(ctx); err != nil {
		p.conn.Close(ctx)
		return nil, err
	}
	svc := iotsvc.New()
	o.Handler = svc.Handle
	sess, err := p.conn.Connect(ctx, o)
	if err != nil {
		p.conn.Close(ctx)
		return nil, err
	}
	svc.Bind(sess)
	return &client{prepared: p, svc: svc, sess: sess}, nil
}

// close disconnects, within shutdown.Budget of a signal.
func (c *client) close(ctx context.Context) {
	after := c.closeAfter
	if after == 0 {
		after = shutdown.Budget
	}
	cctx, cancel := shutdown.Context(ctx, 5*time.Second, after)
	defer cancel()
	_ = c.sess.Close(cctx, 0x00)
	c.conn.Close(cctx)
}

// topic is the thing's jobs topic for op: get, start-next, <jobId>/get …
func (c *client) topic(op string) string { return topicOf(c.thing, op) }

func topicOf(thing, op string) string { return "$aws/things/" + thing + "/jobs/" + op }

// request sends one request and waits up to timeout for its answer.
func (c *client) request(ctx context.Context, timeout time.Duration, op string, body map[string]any) (*iotsvc.Reply, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.svc.Do(rctx, iotsvc.Request{Topic: c.topic(op), Body: body})
}

// runRequest is the whole of list, describe, next and update: connect,
// one request, its answer on stdout as JSON, disconnect.
func runRequest(ctx context.Context, c *Common, p *prepared, op string, body map[string]any) error {
	cl, err := p.dial(ctx, session.Options{})
	if err != nil {
		return err
	}
	defer cl.close(ctx)
	rep, err := cl.request(ctx, c.Timeout, op, body)
	if err != nil {
		return err
	}
	return printAnswer(c.IO.Out, rep.Payload)
}

// printAnswer prints the service's answer without the client token iotctl
// made up.
func printAnswer(w io.Writer, payload []byte) error {
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber() // numbers as sent, not through float64
	err := d.Decode(&doc)
	if _, more := d.Token(); err == nil && more != io.EOF {
		err = errors.New("more after the JSON object")
	}
	if err != nil {
		return errs.New(errs.Unexpected, fmt.Errorf("the service's answer is not a JSON object: %v", err))
	}
	delete(doc, "clientToken")
	return cmdutil.WriteJSON(w, doc)
}
