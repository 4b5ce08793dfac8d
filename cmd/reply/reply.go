// Package reply is `iotctl reply`: answer MQTT 5 requests by running a
// command (or echoing), as a responder for `iotctl req` and mosquitto_rr.
package reply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/spf13/cobra"
)

// Options are reply's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Warn     func(string)

	Topics     []string
	Group      string // --group: $share/GROUP/FILTER
	Workers    int
	Echo       bool
	Command    []string      // after --
	CmdTimeout time.Duration // --timeout per command run; 0: none
	QoS        int
	// ResponseTopic answers the messages that name no response topic
	// (under MQTT 3.1.1: all of them) on this fixed topic.
	ResponseTopic string
	mqtt311       bool // answers carry no properties

	// onSubscribed (test seam) runs once every SUBACK is in.
	onSubscribed func()
}

const (
	closeTimeout = 5 * time.Second
	// killAfter is when, after SIGINT/SIGTERM, commands still running are
	// killed (their requests stay unacknowledged); stopPublish is when
	// waiting for the acknowledgements of responses ends.
	killAfter   = shutdown.Grace
	stopPublish = 1800 * time.Millisecond
	// timeoutExitCode answers a command killed by --timeout, as timeout(1).
	timeoutExitCode = 124
)

// NewCmdReply returns `iotctl reply`. runF replaces replyRun in flag tests.
func NewCmdReply(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Warn: f.Warn}
	cmd := &cobra.Command{
		Use:   "reply -t FILTER [flags] (--echo | -- COMMAND [ARGS…])",
		Short: "Answer MQTT 5 requests by running a command",
		Long: `Subscribe to FILTER and answer each request: a message with an MQTT 5
response topic (from iotctl req, mosquitto_rr or any MQTT 5 requester).

For each request, COMMAND runs with the payload on stdin and these
variables set (IOTCTL_* variables of iotctl itself are not passed on):
  IOTCTL_TOPIC             the request's topic
  IOTCTL_RESPONSE_TOPIC    its response topic
  IOTCTL_CORRELATION_DATA  its correlation data, in hex
  IOTCTL_QOS               its QoS
Its stdout (less one final newline) is published to the response topic,
with the request's correlation data and the user property exit_code (its
exit status); when it fails, the user property error carries the last line
of its stderr (which is also copied to iotctl's stderr). --echo answers
with the request's payload instead.

  --timeout DUR   kill a command that runs longer; the answer then has
                  exit_code 124 (as timeout(1)) and error "timed out"
  --workers N     run up to N commands at once (default 1); requests on one
                  topic are answered one after the other, in order
  --group NAME    subscribe to $share/NAME/FILTER: the responders of one
                  group share the requests (load balancing)
  -q QOS          QoS of the subscription (default 1). A QoS 1 or 2
                  request is acknowledged only once its response was
                  published (and acknowledged, at QoS 1 or 2): a responder
                  that dies leaves it to the broker to deliver again

A message without a response topic is not a request: it is acknowledged and
skipped (-v says so), unless --response-topic T says where to answer it.

Under --mqtt-version 3.1.1 there are no properties: no request names its
response topic, so --response-topic T is required and every message on
FILTER is answered on T, with the bare output (no correlation data, no
exit_code or error property); T must not match FILTER. The connection is re-established when lost, and the
subscriptions with it. Ctrl-C/SIGTERM: no new command starts, running ones
get ` + killAfter.String() + ` to finish (then they are killed and their requests are not
acknowledged), the answers are published, exit 130.

Request/response is MQTT 5's (response topic and correlation data
properties).`,
		Example: `  iotctl reply -t svc/time -- date -u
  iotctl reply -t 'svc/upper/#' -- tr a-z A-Z
  iotctl reply -t svc/echo --echo
  iotctl reply -t 'jobs/+' --group workers --workers 4 --timeout 30s -- ./handle.sh`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			if runF != nil {
				return runF(opts)
			}
			return replyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false) // what follows the command's name is its own
	cmdutil.StringArrayVarP(fl, &opts.Topics, "topic", "t", "topic filter of the requests (required, repeatable)")
	fl.StringVar(&opts.Group, "group", "", "share the requests with the other responders of this group ($share/NAME/FILTER)")
	fl.IntVar(&opts.Workers, "workers", 1, "commands run at once (requests on one topic stay in order)")
	fl.BoolVar(&opts.Echo, "echo", false, "answer with the request's payload (no command)")
	cmdutil.DurationVar(fl, &opts.CmdTimeout, "timeout", 0, "kill a command running longer and answer exit_code 124 (0: no limit)")
	fl.IntVarP(&opts.QoS, "qos", "q", 1, "QoS of the subscription (0, 1 or 2)")
	fl.StringVarP(&opts.ResponseTopic, "response-topic", "e", "", "answer requests that name no response topic here (required under --mqtt-version 3.1.1, whose requests name none)")
	cmdutil.Choice{Flag: "qos", Values: cmdutil.QoS}.Register(cmd)
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

// subscriptions checks the flags against the limits and returns the
// subscriptions; nothing touches the network.
func (o *Options) subscriptions(r limits.Rules) ([]session.Subscription, error) {
	switch {
	case len(o.Topics) == 0:
		return nil, errs.Usagef("reply: no topic filter: give -t FILTER")
	case o.Echo && len(o.Command) > 0:
		return nil, errs.Usagef("reply: --echo and a command %q: give one of them", o.Command[0])
	case !o.Echo && len(o.Command) == 0:
		return nil, errs.Usagef("reply: no command: give -- COMMAND [ARGS…] or --echo")
	case o.Workers < 1:
		return nil, errs.Usagef("--workers %d: give 1 or more", o.Workers)
	case o.CmdTimeout < 0:
		return nil, errs.Usagef("--timeout %s: must not be negative (0: no limit)", o.CmdTimeout)
	case strings.ContainsAny(o.Group, "/+#"):
		return nil, errs.Usagef("--group %q: a share name cannot contain /, + or #", o.Group)
	}
	if err := r.QoS(o.QoS); err != nil {
		return nil, err
	}
	if o.mqtt311 && o.ResponseTopic == "" {
		return nil, errs.Usagef("reply under --mqtt-version 3.1.1: give --response-topic T: a 3.1.1 request names no response topic, so reply answers every message on FILTER on T")
	}
	if o.ResponseTopic != "" {
		if err := r.Topic(o.ResponseTopic); err != nil {
			return nil, fmt.Errorf("--response-topic: %w", err)
		}
		for _, t := range o.Topics {
			if f, err := limits.ParseFilter(t); err == nil && limits.Matches(f.Filter, o.ResponseTopic) {
				return nil, errs.Usagef("--response-topic %q matches -t %q: reply would answer its own answers: give a response topic outside the filter", o.ResponseTopic, t)
			}
		}
	}
	if len(o.Command) > 0 {
		if _, err := exec.LookPath(o.Command[0]); err != nil {
			return nil, errs.Usagef("reply: command %q: %v: give a program on PATH or a path to one", o.Command[0], errors.Unwrap(err))
		}
	}
	var subs []session.Subscription
	for _, t := range o.Topics {
		f := t
		if o.Group != "" {
			if strings.HasPrefix(t, "$share/") {
				return nil, errs.Usagef("-t %q with --group: give the filter without $share/", t)
			}
			f = "$share/" + o.Group + "/" + t
		}
		if err := r.Filter(f); err != nil {
			return nil, err
		}
		subs = append(subs, session.Subscription{Filter: f, QoS: byte(o.QoS)})
	}
	return subs, nil
}

func replyRun(ctx context.Context, opts *Options) error {
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	stderr := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	conn, err := connect.New(st, connect.Options{Stderr: stderr, Warn: opts.Warn})
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	opts.mqtt311 = session.IsV311(st)
	subs, err := opts.subscriptions(conn.Rules)
	if err != nil {
		return err
	}
	if err := conn.Start(ctx); err != nil {
		return err
	}
	r := newReplier(ctx, opts, conn.Rules, stderr, st.Verbose)
	sess, err := conn.Connect(ctx, session.Options{Reconnect: true, Handler: r.handle, Warn: opts.Warn})
	if err != nil {
		if ctx.Err() != nil {
			return errs.New(errs.Interrupted, errors.New("interrupted while connecting"))
		}
		return err
	}
	r.setSession(sess)
	codes, err := sess.Subscribe(ctx, subs)
	if err != nil {
		_ = r.shutdown(ctx)
		if ctx.Err() != nil {
			return errs.New(errs.Interrupted, errors.New("interrupted while subscribing"))
		}
		return err
	}
	for i, c := range codes {
		if i < len(subs) && c < subs[i].QoS {
			opts.Warn(fmt.Sprintf("subscribe to %s: the broker granted QoS %d, not %d", subs[i].Filter, c, subs[i].QoS))
		} else if st.Verbose && i < len(subs) {
			fmt.Fprintf(stderr, "subscribed to %s (QoS %d)\n", subs[i].Filter, c)
		}
	}
	if opts.onSubscribed != nil {
		opts.onSubscribed()
	}
	select {
	case <-ctx.Done():
		_ = r.shutdown(ctx)
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted after %s", cmdutil.Plural(r.answered.Load(), "answer")))
	case <-sess.Done():
		_ = r.shutdown(ctx)
		if err := sess.Err(); err != nil {
			return err
		}
		return errors.New("the session ended")
	}
}

// replier answers requests: the handler queues them, workers run them.
type replier struct {
	opts    *Options
	rules   limits.Rules
	stderr  io.Writer
	verbose bool
	q       *queues

	ready chan struct{} // closed once sess is set
	sess  *session.Session

	stopping atomic.Bool
	cmdCtx   context.Context // ends killAfter after the signal
	pubCtx   context.Context // ends stopPublish after the signal
	cancel   []context.CancelFunc
	answered atomic.Int64
	dropped  atomic.Int64 // QoS 0 requests over maxWaitingQoS0
}

func newReplier(ctx context.Context, opts *Options, rules limits.Rules, stderr io.Writer, verbose bool) *replier {
	r := &replier{opts: opts, rules: rules, stderr: stderr, verbose: verbose, ready: make(chan struct{})}
	var c1, c2 context.CancelFunc
	r.cmdCtx, c1 = shutdown.Context(ctx, 0, killAfter)
	r.pubCtx, c2 = shutdown.Context(ctx, 0, stopPublish)
	r.cancel = []context.CancelFunc{c1, c2}
	r.q = newQueues(opts.Workers, r.serve)
	return r
}

func (r *replier) setSession(s *session.Session) {
	r.sess = s
	close(r.ready)
}

// handle is the session's handler. It never blocks: a request is queued
// and acknowledged by its worker once answered.
func (r *replier) handle(m *session.Message) error {
	if r.stopping.Load() {
		return session.DeferAck // not acknowledged: the broker delivers it again
	}
	if m.Props.ResponseTopic == "" && r.opts.ResponseTopic != "" {
		c := *m
		c.Props.ResponseTopic = r.opts.ResponseTopic
		m = &c
	}
	if m.Props.ResponseTopic == "" {
		if r.verbose {
			fmt.Fprintf(r.stderr, "skipped a message on %s: no response topic, not a request\n", esc.String(m.Topic))
		}
		return nil
	}
	c := *m
	c.Payload = bytes.Clone(m.Payload)
	c.Props.CorrelationData = bytes.Clone(m.Props.CorrelationData)
	if !r.q.add(&c) && r.dropped.Add(1) == 1 {
		r.opts.Warn(fmt.Sprintf("more than %d QoS 0 requests wait for a worker: dropping new ones (raise --workers, or request at QoS 1)", maxWaitingQoS0))
	}
	return session.DeferAck
}

// shutdown stops taking requests, lets running commands finish until
// killAfter, publishes their answers and disconnects, all within the
// 3 s of the signal.
func (r *replier) shutdown(ctx context.Context) error {
	r.stopping.Store(true)
	r.q.close()
	wctx, cancel := shutdown.Context(ctx, closeTimeout, stopPublish)
	defer cancel()
	if !r.q.wait(wctx) {
		for _, c := range r.cancel {
			c()
		}
	}
	cctx, ccancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
	defer ccancel()
	err := r.sess.Close(cctx, 0x00)
	for _, c := range r.cancel {
		c()
	}
	return err
}
