// Package req is `iotctl req`: publish an MQTT 5 request with a response
// topic and correlation data, and print the responses that match.
package req

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/cmd/shared"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/spf13/cobra"
)

// Options are req's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Warn     func(string)

	Topic         string
	Message       string
	MessageSet    bool
	File          string // "-": standard input
	Stdin         bool
	Null          bool
	ResponseTopic string        // "": a unique topic under iotctl/rr/<client id>/
	Timeout       time.Duration // -W: connecting included; 0: none
	Count         int           // responses to wait for
	QoS           int
	Encoding      string

	// onRequest (test seam) runs once the request was published.
	onRequest func(responseTopic string)
}

const (
	closeTimeout         = 5 * time.Second
	defaultMaxReconnects = 10
	// ResponseTopicPrefix starts the default response topics.
	ResponseTopicPrefix = "iotctl/rr/"
)

// NewCmdReq returns `iotctl req`. runF replaces reqRun in flag tests.
func NewCmdReq(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Warn: f.Warn}
	cmd := &cobra.Command{
		Use:   "req -t TOPIC (-m MSG | -f FILE | - | --stdin | -n) [flags]",
		Short: "Send an MQTT 5 request and print the responses",
		Long: `Publish one request on TOPIC and print the responses, as mosquitto_rr does.

The request carries an MQTT 5 response topic and random correlation data.
req subscribes to the response topic before it publishes, then prints the
payload of each message there whose correlation data match the request's
(others are ignored): one line each (-o json: one JSON object per line, as
sub -F json). A responder (iotctl reply, or any MQTT 5 client that answers
on the response topic with the same correlation data) answers it.

  --response-topic T  where responses come (default: a unique topic under
                      iotctl/rr/<client id>/); not the request topic
  -C N                wait for N responses (scatter-gather: several
                      responders answer one request); default 1
  -W DUR              total time allowed, connecting included (default
                      10s; 0: no limit): exit 5 when fewer than -C responses
                      arrived
  -q QOS              QoS of the request and of the subscription

Request/response is MQTT 5's (response topic and correlation data
properties). Under --mqtt-version 3.1.1, which has neither, req needs
--response-topic, sends the bare request and takes every message on that
topic for a response (it says so on stderr); the responder must answer
there (iotctl reply --response-topic T). Exit codes: 0 the responses arrived, 5 timed out, 130
interrupted; connection and usage errors as every command.`,
		Example: `  iotctl req -t svc/time -m now
  echo '{"x":1}' | iotctl req -t svc/calc -q 1 -      # the request from stdin
  iotctl req -t fleet/ping -m hi -C 3 -W 5s -o json     # gather 3 answers
  iotctl req -t svc/time -m now --response-topic my/replies`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.MessageSet = cmd.Flags().Changed("message")
			if len(args) == 1 {
				if args[0] != "-" {
					return errs.Usagef("req: unexpected argument %q: give the request with -m MSG, -f FILE or - (standard input)", args[0])
				}
				opts.Stdin = true
			}
			if runF != nil {
				return runF(opts)
			}
			return reqRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Topic, "topic", "t", "", "topic to publish the request on (required)")
	fl.StringVarP(&opts.Message, "message", "m", "", "request payload")
	fl.StringVarP(&opts.File, "file", "f", "", "request payload from this file (-: standard input)")
	fl.BoolVarP(&opts.Stdin, "stdin", "s", false, "request payload from all of standard input")
	fl.BoolVarP(&opts.Null, "null", "n", false, "send an empty request")
	fl.StringVarP(&opts.ResponseTopic, "response-topic", "e", "", "topic of the responses (default: unique, under iotctl/rr/<client id>/; required under --mqtt-version 3.1.1)")
	cmdutil.DurationVarP(fl, &opts.Timeout, "timeout", "W", 10*time.Second, "total time allowed: exit 5 when fewer than -C responses arrived (0: no limit)")
	fl.IntVarP(&opts.Count, "count", "C", 1, "number of responses to wait for")
	fl.IntVarP(&opts.QoS, "qos", "q", 0, "QoS of the request and the response subscription (0, 1 or 2)")
	cmdutil.AddEncodingFlag(cmd, &opts.Encoding, "how -m, -f and --stdin spell the payload")
	cmdutil.Choice{Flag: "qos", Values: cmdutil.QoS}.Register(cmd)
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

// check validates the flags against the limits; nothing touches the network.
func (o *Options) check(r limits.Rules) error {
	n := 0
	for _, on := range []bool{o.MessageSet, o.File != "", o.Stdin, o.Null} {
		if on {
			n++
		}
	}
	switch {
	case o.Topic == "":
		return errs.Usagef("req: no topic: give -t TOPIC")
	case n == 0:
		return errs.Usagef("req: no request: give one of -m MSG, -f FILE, --stdin or -n/--null")
	case n > 1:
		return errs.Usagef("req: give only one of -m, -f, --stdin and -n/--null")
	case o.Count < 1:
		return errs.Usagef("-C %d: give the number of responses to wait for, 1 or more", o.Count)
	case o.Timeout < 0:
		return errs.Usagef("-W %s: the timeout must not be negative (0: no limit)", o.Timeout)
	}
	if err := r.QoS(o.QoS); err != nil {
		return err
	}
	if err := r.Topic(o.Topic); err != nil {
		return err
	}
	if o.ResponseTopic != "" {
		if err := r.Topic(o.ResponseTopic); err != nil {
			return fmt.Errorf("--response-topic: %w", err)
		}
		if o.ResponseTopic == o.Topic {
			return errs.Usagef("--response-topic %q is the request topic: req would take its own request for the response: give another response topic", o.ResponseTopic)
		}
	}
	return nil
}

// payload reads the request's payload.
func (o *Options) payload(ctx context.Context, r limits.Rules) ([]byte, error) {
	enc, err := cmdutil.ParseEncoding(o.Encoding)
	if err != nil {
		return nil, err
	}
	const hint = "send less"
	var data []byte
	what := "-m"
	switch {
	case o.MessageSet:
		data = []byte(o.Message)
	case o.File == "-" || o.Stdin:
		what = "--stdin"
		if data, err = cmdutil.ReadInput(ctx, o.IO.In, -1, r, hint); err != nil {
			return nil, fmt.Errorf("--stdin: %w", err)
		}
	case o.File != "":
		what = "-f " + o.File
		if data, err = cmdutil.ReadFile(ctx, o.File, r, hint); err != nil {
			return nil, err
		}
	default:
		return []byte{}, nil
	}
	p, err := enc.Decode(nil, data, what)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = []byte{}
	}
	return p, r.Payload(len(p))
}

func reqRun(ctx context.Context, opts *Options) error {
	start := time.Now()
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
	if err := opts.check(conn.Rules); err != nil {
		return err
	}
	payload, err := opts.payload(ctx, conn.Rules)
	if err != nil {
		return err
	}
	corr := make([]byte, 16)
	_, _ = rand.Read(corr)
	v311 := session.IsV311(st)
	if v311 {
		if opts.ResponseTopic == "" {
			return errs.Usagef("req under --mqtt-version 3.1.1: give --response-topic T: a 3.1.1 request carries no response topic, so the responder must know it (reply --response-topic T)")
		}
		corr = nil // no correlation data either: responses match by topic only
		fmt.Fprintf(stderr, "req: MQTT 3.1.1: every message on %s is taken for a response (no correlation data)\n", esc.String(opts.ResponseTopic))
	}
	if err := conn.Start(ctx); err != nil {
		return err
	}

	cctx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithDeadline(ctx, start.Add(opts.Timeout))
		defer cancel()
	}
	r := &responses{opts: opts, corr: corr, stop: make(chan struct{}), json: conn.Settings.Output == cmdutil.FormatJSON}
	sess, err := conn.Connect(cctx, session.Options{
		Reconnect:     true,
		MaxReconnects: defaultMaxReconnects,
		Handler:       r.handle,
		Warn:          opts.Warn,
	})
	if err != nil {
		return startErr(ctx, cctx, opts, "connect to "+conn.Settings.Endpoint, err)
	}
	defer func() {
		cl, cancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
		defer cancel()
		_ = sess.Close(cl, 0x00)
	}()

	topic := opts.ResponseTopic
	if topic == "" {
		topic = ResponseTopicPrefix + sess.ClientID() + "/" + hex.EncodeToString(corr[:4])
		if err := conn.Rules.Topic(topic); err != nil {
			return fmt.Errorf("the default response topic %q: %w: give --response-topic", topic, err)
		}
	}
	codes, err := sess.Subscribe(cctx, []session.Subscription{{Filter: topic, QoS: byte(opts.QoS)}})
	if err != nil {
		return startErr(ctx, cctx, opts, "subscribe to the response topic "+topic, err)
	}
	if len(codes) > 0 && codes[0] < byte(opts.QoS) {
		opts.Warn(fmt.Sprintf("subscribe to %s: the broker granted QoS %d, not %d", topic, codes[0], opts.QoS))
	}
	m := &session.Message{Topic: opts.Topic, Payload: payload, QoS: byte(opts.QoS),
		Props: session.Properties{ResponseTopic: topic, CorrelationData: corr}}
	if v311 {
		m.Props = session.Properties{}
	}
	published := make(chan error, 1)
	if err := sess.Publish(cctx, m, func(err error) { published <- err }); err != nil {
		return startErr(ctx, cctx, opts, "publish the request on "+opts.Topic, err)
	}
	select {
	case err = <-published:
	case <-cctx.Done():
		err = cctx.Err()
	}
	if err != nil {
		return startErr(ctx, cctx, opts, "publish the request on "+opts.Topic, err)
	}
	if st.Verbose {
		fmt.Fprintf(stderr, "request published on %s, waiting for %s on %s\n", esc.String(opts.Topic), cmdutil.Plural(int64(opts.Count), "response"), esc.String(topic))
	}
	if opts.onRequest != nil {
		opts.onRequest(topic)
	}

	select {
	case <-r.stop:
		return r.err
	case <-ctx.Done():
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted after %d of %s", r.n.Load(), cmdutil.Plural(int64(opts.Count), "response")))
	case <-cctx.Done():
		return errs.Timeoutf("timed out after %s: %d of %s to the request on %s: check that a responder (iotctl reply) serves that topic, or raise -W", opts.Timeout, r.n.Load(), cmdutil.Plural(int64(opts.Count), "response"), opts.Topic)
	case <-sess.Done():
		if err := sess.Err(); err != nil {
			return err
		}
		return errors.New("the session ended")
	}
}

// startErr classifies a failure before the request was out: a timeout (-W)
// or an interruption, else err.
func startErr(ctx, cctx context.Context, opts *Options, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted during %s", what))
	case cctx.Err() != nil:
		return errs.Timeoutf("timed out after %s during %s: %v: raise -W", opts.Timeout, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// responses is the session's handler: it prints the responses that match.
type responses struct {
	opts *Options
	corr []byte
	json bool

	n    atomic.Int64
	once sync.Once
	stop chan struct{}
	err  error // set before stop closes
	buf  []byte
}

// matches reports whether m answers this request: its correlation data
// are the request's. Without correlation data (corr nil: MQTT 3.1.1 has no
// properties, so there a request needs --response-topic) every message on
// the response topic is a response.
func (r *responses) matches(m *session.Message) bool {
	return r.corr == nil || bytes.Equal(m.Props.CorrelationData, r.corr)
}

func (r *responses) handle(m *session.Message) error {
	if !r.matches(m) || r.n.Load() >= int64(r.opts.Count) {
		return nil // another request's response, or one too many
	}
	var err error
	if r.json {
		r.buf, err = shared.AppendJSONMessage(r.buf[:0], m, time.Now())
	} else {
		r.buf = append(append(r.buf[:0], m.Payload...), '\n')
	}
	if err == nil {
		_, err = r.opts.IO.Out.Write(r.buf)
	}
	if err != nil {
		r.end(errs.New(errs.Output, fmt.Errorf("write the response: %w", err)))
		return session.DeferAck
	}
	if r.n.Add(1) == int64(r.opts.Count) {
		r.end(nil)
	}
	return nil
}

func (r *responses) end(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.stop)
	})
}
