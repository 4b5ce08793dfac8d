// Package pub is `iotctl pub`: publish one message, the same message N
// times, or one message per input line, and exit 0 only when every QoS>=1
// message was acknowledged.
package pub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/payload"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/spf13/cobra"
)

// Options are pub's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Warn     func(string)

	Topic           string
	Message         string
	MessageSet      bool
	File            string
	Stdin           bool
	Lines           bool
	Null            bool
	Files           []string // --files: globs (and the arguments after them), one message per file
	FileDir         string   // --file-per-message: one message per file under this folder
	QoS             int
	Retain          bool
	Count           int
	Interval        time.Duration
	Rate            float64
	UserProperties  []string
	ContentType     string
	ResponseTopic   string
	CorrelationData string
	MessageExpiry   time.Duration // 0: none
	PayloadFormat   string        // "", utf8, bytes
	Template        bool          // -m is a Go template per message
	Encoding        string        // text, hex, base64: how -m, -f, --stdin and lines spell the payload
	TopicAlias      bool          // MQTT 5 topic aliases for repeated topics

	// Grace is how long an interrupted pub waits for acknowledgements, at
	// most shutdown.Grace after the signal.
	Grace time.Duration
}

// longSessionExpiry is the session expiry a long-running pub asks for when
// the user set none, so a reconnect resumes the session and its in-flight
// messages instead of starting over.
const longSessionExpiry = 5 * time.Minute

// defaultMaxReconnects is pub's --max-reconnects when none is set.
const defaultMaxReconnects = 10

// closeTimeout bounds the DISCONNECT at exit.
const closeTimeout = 5 * time.Second

// NewCmdPub returns `iotctl pub`. runF replaces pubRun in flag tests.
func NewCmdPub(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Warn: f.Warn, Count: 1, Grace: shutdown.Grace}
	cmd := &cobra.Command{
		Use:   "pub -t TOPIC (-m MSG | -f FILE | --stdin | -l | -n | --files GLOB… | --file-per-message DIR) [flags]",
		Short: "Publish messages",
		Long: `Publish a message to a topic, like mosquitto_pub.

Sources (exactly one):
  -m MSG         the message text
  -f FILE        the whole file as one message
  --stdin        the whole standard input as one message (an empty input
                 publishes an empty message); -f and --stdin read at most
                 the payload limit (--limits) and refuse larger input
  -l, --lines    one message per line of standard input, streamed in constant
                 memory; "\n" and "\r\n" are stripped, an empty line is an
                 empty message; a line longer than the payload limit stops
                 pub with exit code 2 before it is published
  -n, --null     an empty message
  --files GLOB…  each file the patterns match as one message, in sorted
                 order (arguments after --files are more patterns, so an
                 unquoted *.json expanded by the shell works)
  --file-per-message DIR
                 each file under DIR (recursively; names starting with "."
                 skipped) as one message, sorted by path

With --files and --file-per-message, -t may use {name} (the file's name,
without its folder) and {path} (its path: relative to DIR with
--file-per-message, as matched with --files; "/" between folders). Every
topic is checked (no wildcards) and every file's size against the payload
limit before connecting: a bad one is exit 2 and nothing is published.

--count N publishes the message N times; --interval waits between messages;
--rate caps messages per second. QoS defaults to 0, like mosquitto_pub.

--template makes -m a Go template executed for each message, to simulate a
device: {{.Count}} (1 for the first message), {{.Time}} (RFC 3339, UTC, with
milliseconds; {{.Time.UnixMilli}} for Unix milliseconds, {{.Time.Format
"15:04"}}), {{.Random N}} (a whole number from 0 to N-1), {{.UUID}},
{{.ClientID}}, {{.Topic}}. A template that does not run is exit 2 before
connecting.

--topic-alias sends a topic once per connection and then a 2-byte MQTT 5
topic alias in its place, up to the broker's Topic Alias Maximum (mosquitto:
10 by default, AWS IoT: 8); further topics go in full. It saves the topic's
length on every repeated message: --count, --lines, --template. A broker
that allows no aliases gets full topics and a warning (the messages are the
same either way). After a reconnect every topic is sent in full again,
messages published again included.

--encoding hex|base64 decodes -m, -f, --stdin and each --lines line (after
--template) into the payload bytes, so binary payloads can be typed.

With -o json, pub prints its summary on stdout when it ends after
connecting, whatever the exit code: one document with topic, qos, sent,
acknowledged (QoS 0: written), refused, refused_by_reason (reason_code,
reason, count; reason_code null for a message dropped after the broker
closed the connection over it), unacknowledged, duration_s and rate
(messages sent per second). Text mode prints nothing on stdout; -v prints
the summary on stderr.

Exit codes: 0 when every QoS 1/2 message was acknowledged with success (QoS 0:
written), 2 bad flags, topic or input, 3 no connection, 4 a message or the
connection was refused by the broker (publishing continues; the count is
reported), 6 messages left unacknowledged, 130 interrupted with every message
acknowledged. Ctrl-C stops reading input, waits up to 1.2s for outstanding
acknowledgements, disconnects, and exits 6 with the count if any remain,
within 3s of the signal whatever the broker does; a second Ctrl-C exits at
once (130).

A lost connection is re-established with backoff and unacknowledged
messages are published again; with --lines, --count or --interval the
session expiry defaults to 5m, so the broker can resume the session. The
first connection is tried once; after it, pub gives up (exit 3) after
--max-reconnects (10) failed reconnects in a row. A message over which the
broker closes the connection 3 times in a row is dropped and counted as
refused (exit 4) instead of being sent for ever.`,
		Example: `  iotctl pub -t sensors/1 -m '{"t":21.5}' -q 1
  iotctl pub -t logs -l -q 1 < app.log
  iotctl pub -t test/topic -m hello --count 100 --rate 10
  iotctl pub -t a/b -m hi --user-property source=cli --content-type text/plain
  iotctl pub -t dev/1/telemetry --template --count 100 --interval 1s \
    -m '{"seq":{{.Count}},"ts":{{.Time.UnixMilli}},"temp":{{.Random 40}}}'
  iotctl pub -t bin -m 'deadbeef00' --encoding hex
  iotctl pub -t 'configs/{name}' -q 1 -r --files 'configs/*.json'
  iotctl pub -t 'replay/{path}' -q 1 --file-per-message ./capture`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("files") {
				return nil // more globs, as the shell expanded them
			}
			return cobra.NoArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.MessageSet = cmd.Flags().Changed("message")
			opts.Files = append(opts.Files, args...)
			if runF != nil {
				return runF(opts)
			}
			return pubRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Topic, "topic", "t", "", "topic to publish to (required)")
	fl.StringVarP(&opts.Message, "message", "m", "", "message text")
	fl.StringVarP(&opts.File, "file", "f", "", "publish this file's content as one message")
	fl.BoolVar(&opts.Stdin, "stdin", false, "publish all of standard input as one message")
	fl.BoolVarP(&opts.Lines, "lines", "l", false, "publish each line of standard input as a message")
	fl.BoolVarP(&opts.Null, "null", "n", false, "publish an empty message")
	cmdutil.StringArrayVar(fl, &opts.Files, "files", "publish each file these patterns match as one message (sorted; -t may use {name} and {path})")
	fl.StringVar(&opts.FileDir, "file-per-message", "", "publish each file under this folder as one message (sorted; -t may use {name} and {path})")
	_ = cmd.MarkFlagDirname("file-per-message")
	fl.IntVarP(&opts.QoS, "qos", "q", 0, "QoS 0, 1 or 2")
	fl.BoolVarP(&opts.Retain, "retain", "r", false, "retain the message")
	fl.IntVar(&opts.Count, "count", 1, "publish the message this many times")
	cmdutil.DurationVar(fl, &opts.Interval, "interval", 0, "wait between messages (e.g. 1s, 100ms)")
	fl.Float64Var(&opts.Rate, "rate", 0, "at most this many messages per second (0: no limit)")
	cmdutil.StringArrayVar(fl, &opts.UserProperties, "user-property", "MQTT5 user property key=value (repeatable)")
	fl.StringVar(&opts.ContentType, "content-type", "", "MQTT5 content type")
	fl.StringVar(&opts.ResponseTopic, "response-topic", "", "MQTT5 response topic")
	fl.StringVar(&opts.CorrelationData, "correlation-data", "", "MQTT5 correlation data")
	cmdutil.DurationVar(fl, &opts.MessageExpiry, "message-expiry", 0, "MQTT5 message expiry interval (whole seconds, e.g. 1h)")
	fl.StringVar(&opts.PayloadFormat, "payload-format", "", "MQTT5 payload format indicator: utf8 or bytes")
	fl.BoolVar(&opts.Template, "template", false, "-m is a Go template per message: "+payload.Fields)
	fl.BoolVar(&opts.TopicAlias, "topic-alias", false, "MQTT5 topic aliases: send each topic once per connection, then a 2-byte alias")
	cmdutil.AddEncodingFlag(cmd, &opts.Encoding, "how -m, -f, --stdin and lines spell the payload")
	cmdutil.Choice{Flag: "payload-format", Values: []string{"utf8", "bytes"}}.Register(cmd)
	cmdutil.Choice{Flag: "qos", Values: cmdutil.QoS}.Register(cmd)
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

// plan is what the flags ask for, checked, before any connection.
type plan struct {
	msg     session.Message // template: topic, QoS, retain, properties (and payload unless --lines)
	lines   bool
	count   int
	utf8    bool
	tmpl    *payload.Template // --template: payloads are made per message
	files   []fileSource      // --files, --file-per-message: one message per file
	enc     cmdutil.Encoding
	rules   limits.Rules
	longRun bool
	conn    *connect.Conn
}

// check validates the flags and reads -f/--stdin; nothing touches the network.
func (o *Options) check(ctx context.Context, st *profile.Settings) (*plan, error) {
	sources := 0
	for _, on := range []bool{o.MessageSet, o.File != "", o.Stdin, o.Lines, o.Null, len(o.Files) > 0, o.FileDir != ""} {
		if on {
			sources++
		}
	}
	switch {
	case o.Topic == "":
		return nil, errs.Usagef("pub: no topic: give -t TOPIC")
	case sources == 0:
		return nil, errs.Usagef("pub: no message: give one of -m MSG, -f FILE, --stdin, -l/--lines, -n/--null, --files GLOB or --file-per-message DIR")
	case sources > 1:
		return nil, errs.Usagef("pub: give only one of -m, -f, --stdin, -l/--lines, -n/--null, --files and --file-per-message")
	case o.Count < 1:
		return nil, errs.Usagef("--count %d: must be at least 1", o.Count)
	case o.Lines && o.Count != 1:
		return nil, errs.Usagef("--count with --lines: each line is published once; repeat the input instead")
	case (len(o.Files) > 0 || o.FileDir != "") && o.Count != 1:
		return nil, errs.Usagef("--count with --files or --file-per-message: each file is published once")
	case o.Rate < 0:
		return nil, errs.Usagef("--rate %g: must not be negative", o.Rate)
	case o.Interval < 0:
		return nil, errs.Usagef("--interval must not be negative")
	case o.MessageExpiry != 0 && (o.MessageExpiry < time.Second || o.MessageExpiry > 0xFFFFFFFF*time.Second):
		return nil, errs.Usagef("--message-expiry %s: must be between 1s and 136 years, in whole seconds", o.MessageExpiry)
	case o.Template && !o.MessageSet:
		return nil, errs.Usagef("--template makes -m a template: give -m '…{{.Count}}…'")
	}
	if err := session.Refuse311(st,
		session.Flag{Name: "--user-property", Set: len(o.UserProperties) > 0},
		session.Flag{Name: "--content-type", Set: o.ContentType != ""},
		session.Flag{Name: "--response-topic", Set: o.ResponseTopic != ""},
		session.Flag{Name: "--correlation-data", Set: o.CorrelationData != ""},
		session.Flag{Name: "--message-expiry", Set: o.MessageExpiry != 0},
		session.Flag{Name: "--payload-format", Set: o.PayloadFormat != ""},
		session.Flag{Name: "--topic-alias", Set: o.TopicAlias},
	); err != nil {
		return nil, err
	}
	enc, err := cmdutil.ParseEncoding(o.Encoding)
	if err != nil {
		return nil, err
	}
	conn, err := connect.New(st, connect.Options{Stderr: &cmdutil.LockedWriter{W: o.IO.ErrOut}, Warn: o.Warn})
	if err != nil {
		return nil, err
	}
	p := &plan{lines: o.Lines, count: o.Count, rules: conn.Rules, conn: conn, enc: enc}
	r := p.rules
	files := len(o.Files) > 0 || o.FileDir != ""
	if files {
		if p.files, err = o.fileSources(r); err != nil {
			return nil, err
		}
	} else if o.Retain {
		err = r.RetainTopic(o.Topic)
	} else {
		err = r.Topic(o.Topic)
	}
	if err != nil {
		return nil, err
	}
	if err := r.QoS(o.QoS); err != nil {
		return nil, err
	}
	m := &p.msg
	m.Topic, m.QoS, m.Retain = o.Topic, byte(o.QoS), o.Retain
	if m.Props.UserProperties, err = session.ParseUserProperties("--user-property", o.UserProperties); err != nil {
		return nil, err
	}
	if err := limits.Text("--content-type", o.ContentType); err != nil {
		return nil, err
	}
	if err := limits.Binary("--correlation-data", len(o.CorrelationData)); err != nil {
		return nil, err
	}
	m.Props.ContentType = o.ContentType
	if o.ResponseTopic != "" {
		if err := r.Topic(o.ResponseTopic); err != nil {
			return nil, fmt.Errorf("--response-topic: %w", err)
		}
		m.Props.ResponseTopic = o.ResponseTopic
	}
	if o.CorrelationData != "" {
		m.Props.CorrelationData = []byte(o.CorrelationData)
	}
	if o.MessageExpiry > 0 {
		v := uint32(o.MessageExpiry / time.Second)
		m.Props.MessageExpiry = &v
	}
	switch o.PayloadFormat {
	case "":
	case "utf8", "utf-8":
		v := byte(1)
		m.Props.PayloadFormat, p.utf8 = &v, true
	case "bytes":
		v := byte(0)
		m.Props.PayloadFormat = &v
	default:
		return nil, errs.Usagef("--payload-format %q: use utf8 or bytes", o.PayloadFormat)
	}
	switch {
	case o.MessageSet && o.Template:
		if p.tmpl, err = payload.Parse("--template", o.Message); err != nil {
			return nil, err
		}
	case o.MessageSet:
		if m.Payload, err = enc.Decode(nil, []byte(o.Message), "-m"); err != nil {
			return nil, err
		}
	case o.File != "":
		if st.Verbose {
			fmt.Fprintf(o.IO.ErrOut, "reading -f %s (at most %d bytes, --limits %s)\n", o.File, r.MaxPayload, r.Name)
		}
		data, err := cmdutil.ReadFile(ctx, o.File, r, splitHint)
		if err != nil {
			return nil, err
		}
		if m.Payload, err = enc.Decode(nil, data, "-f "+o.File); err != nil {
			return nil, err
		}
	case o.Stdin:
		if st.Verbose {
			fmt.Fprintf(o.IO.ErrOut, "reading --stdin (at most %d bytes, --limits %s)\n", r.MaxPayload, r.Name)
		}
		data, err := cmdutil.ReadInput(ctx, o.IO.In, -1, r, splitHint)
		if err != nil {
			return nil, fmt.Errorf("--stdin: %w", err)
		}
		if m.Payload, err = enc.Decode(nil, data, "--stdin"); err != nil {
			return nil, err
		}
	case o.Null:
		m.Payload = []byte{}
	}
	if !o.Lines && p.tmpl == nil && !files {
		if err := r.Payload(len(m.Payload)); err != nil {
			return nil, err
		}
		if p.utf8 && !utf8.Valid(m.Payload) {
			return nil, errs.Usagef("--payload-format utf8: the message is not valid UTF-8: use --payload-format bytes")
		}
	}
	p.longRun = o.Lines || o.Count > 1 || o.Interval > 0 || len(p.files) > 1
	return p, nil
}

func pubRun(ctx context.Context, opts *Options) error {
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	p, err := opts.check(ctx, st)
	if err != nil {
		return err
	}
	conn := p.conn
	defer conn.Close(ctx)
	if err := conn.Start(ctx); err != nil {
		return err
	}
	if p.longRun && p.msg.QoS > 0 && !st.IsSet("session-expiry") && !session.IsV311(st) {
		conn.Settings.SessionExpiry = longSessionExpiry
	}
	if session.IsV311(st) && p.msg.QoS == 2 && !st.IsSet("inflight") {
		conn.Settings.Inflight = session.InflightQoS2311
	}
	stderr := conn.Stderr()
	// Every pub reconnects when the connection is lost before its messages
	// are acknowledged, at most --max-reconnects (10) times in a row; a
	// first connection that fails is not retried.
	sess, err := conn.Connect(ctx, session.Options{Reconnect: true, MaxReconnects: defaultMaxReconnects, Warn: opts.Warn, Coalesce: true, TopicAlias: opts.TopicAlias})
	if err != nil {
		return err
	}
	if st.Verbose {
		c := sess.Capabilities()
		window := fmt.Sprintf("receive maximum %d", c.ReceiveMaximum)
		if c.ProtocolVersion == 4 {
			window = fmt.Sprintf("MQTT 3.1.1, in flight at most %d", c.ReceiveMaximum)
		}
		fmt.Fprintf(stderr, "connected to %s as client ID %q in %s (%s, session present %t)\n",
			st.Endpoint, sess.ClientID(), c.ConnectLatency.Round(time.Millisecond), window, c.SessionPresent)
	}
	r := &run{opts: opts, plan: p, sess: sess, stderr: stderr, verbose: st.Verbose, out: cmdutil.Output{Format: st.Output}, start: time.Now()}
	srcErr := r.publishAll(ctx)
	return r.finish(ctx, srcErr)
}

// run is one pub run's state.
type run struct {
	opts    *Options
	plan    *plan
	sess    *session.Session
	stderr  io.Writer
	verbose bool
	out     cmdutil.Output
	start   time.Time

	sent    int64 // messages handed to the session
	acked   atomic.Int64
	refused atomic.Int64
	failed  atomic.Int64

	mu           sync.Mutex
	firstRefusal error
	shown        int
	byReason     map[int]int64 // refused messages by reason code; -1: dropped
}

// done is the one completion callback of every message.
func (r *run) done(err error) {
	if err == nil {
		r.acked.Add(1)
		return
	}
	// Refused: a reason code >= 0x80, or dropped after the broker closed
	// the connection on it again and again (session.DroppedError).
	if errs.KindOf(err) != errs.Refused {
		r.failed.Add(1)
		return
	}
	r.refused.Add(1)
	code := -1
	var re *session.ReasonError
	if errors.As(err, &re) {
		code = int(re.Code)
	}
	r.mu.Lock()
	if r.firstRefusal == nil {
		r.firstRefusal = err
	}
	if r.byReason == nil {
		r.byReason = make(map[int]int64)
	}
	r.byReason[code]++
	show := r.verbose && r.shown < 10
	r.shown++
	r.mu.Unlock()
	if show {
		fmt.Fprintf(r.stderr, "iotctl: %v\n", err)
	}
}

var errStopped = errors.New("pub: session ended")

// publishAll publishes every message of the source. It returns a usage
// error from the input, ctx's error, or errStopped when the session ended.
func (r *run) publishAll(ctx context.Context) error {
	pace := newPacer(r.opts.Rate, r.opts.Interval)
	publish := func(m *session.Message) error {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		if err := r.sess.Publish(ctx, m, r.done); err != nil {
			var re *session.ReasonError
			switch {
			case errors.As(err, &re):
				// Refused before sending (e.g. larger than the broker's maximum packet size).
				r.sent++
				r.done(err)
				return nil
			case errors.Is(err, session.ErrClosed):
				return errStopped
			}
			return err
		}
		r.sent++
		return nil
	}
	if r.plan.files != nil {
		for _, f := range r.plan.files {
			m, err := r.plan.fileMessage(ctx, f)
			if err != nil {
				return err
			}
			if r.verbose {
				fmt.Fprintf(r.stderr, "publishing %s (%d bytes) to %s\n", esc.String(f.path), len(m.Payload), esc.String(m.Topic))
			}
			if err := publish(m); err != nil {
				return err
			}
		}
		return nil
	}
	if r.plan.tmpl != nil {
		for i := 0; i < r.plan.count; i++ {
			m, err := r.plan.render(i+1, r.sess.ClientID())
			if err != nil {
				return err
			}
			if err := publish(m); err != nil {
				return err
			}
		}
		return nil
	}
	if !r.plan.lines {
		m := &r.plan.msg // read-only: the same message may be in flight many times
		for i := 0; i < r.plan.count; i++ {
			if err := publish(m); err != nil {
				return err
			}
		}
		return nil
	}
	batches := make(chan batch, 4)
	stop := make(chan struct{})
	defer close(stop)
	lr := &lineReader{r: r.opts.IO.In, max: r.plan.rules.MaxPayload, limits: r.plan.rules.Name, utf8: r.plan.utf8, tmpl: &r.plan.msg, enc: r.plan.enc}
	go lr.run(batches, stop)
	for {
		var b batch
		var ok bool
		select {
		case b, ok = <-batches:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.sess.Done():
			return errStopped
		}
		if !ok {
			return nil
		}
		for _, m := range b.msgs {
			if err := publish(m); err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
	}
}

// finish waits for acknowledgements, disconnects and picks the exit.
func (r *run) finish(ctx context.Context, srcErr error) error {
	interrupted := ctx.Err() != nil
	if !interrupted && srcErr != errStopped {
		if err := r.sess.Flush(ctx); err != nil && ctx.Err() != nil {
			interrupted = true
		}
	}
	if interrupted {
		gctx, cancel := shutdown.Context(ctx, r.opts.Grace, shutdown.Grace)
		_ = r.sess.Flush(gctx)
		cancel()
	}
	cctx, cancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
	_ = r.sess.Close(cctx, 0x00)
	cancel()
	sessErr := r.sess.Err()
	elapsed := time.Since(r.start)

	qos := r.plan.msg.QoS
	refused := r.refused.Load()
	var unacked int64
	if qos > 0 {
		unacked = r.sent - r.acked.Load() - refused
	}
	if r.verbose {
		rate := float64(r.sent) / max(elapsed.Seconds(), 1e-9)
		if qos > 0 {
			fmt.Fprintf(r.stderr, "sent %d, acknowledged %d, refused %d, unacknowledged %d in %s (%.0f msg/s, QoS %d)\n",
				r.sent, r.acked.Load(), refused, unacked, elapsed.Round(time.Millisecond), rate, qos)
		} else {
			fmt.Fprintf(r.stderr, "sent %d in %s (%.0f msg/s, QoS 0)\n", r.sent, elapsed.Round(time.Millisecond), rate)
		}
	}
	err := r.exit(interrupted, srcErr, sessErr, unacked)
	if r.out.JSON() {
		// The summary is printed on every exit after connecting; the exit
		// code stays the delivery's, a failing stdout only replaces success.
		if werr := cmdutil.WriteJSON(r.opts.IO.Out, r.summary(elapsed, unacked)); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// exit picks pub's error (and so its exit code) from how the run ended.
func (r *run) exit(interrupted bool, srcErr, sessErr error, unacked int64) error {
	qos := r.plan.msg.QoS
	refused := r.refused.Load()
	var why string
	if sessErr != nil {
		why = ": " + sessErr.Error()
	}
	switch {
	case srcErr != nil && srcErr != errStopped && errs.KindOf(srcErr) == errs.Usage:
		if unacked > 0 {
			return fmt.Errorf("%w (and %s not acknowledged)", srcErr, cmdutil.Plural(unacked, "message"))
		}
		return srcErr
	case !interrupted && sessErr != nil && errs.KindOf(sessErr) == errs.Connect && unacked > 0:
		// The session gave up reconnecting (--max-reconnects): that is the
		// failure to report, with what it left undelivered.
		return fmt.Errorf("%w (%s not acknowledged)", sessErr, cmdutil.Plural(unacked, "message"))
	case interrupted && unacked > 0:
		return errs.Incompletef("interrupted: %s not acknowledged", cmdutil.Plural(unacked, "message"))
	case interrupted:
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted after %s", cmdutil.Plural(r.sent, "message")))
	case refused > 0:
		r.mu.Lock()
		first := r.firstRefusal
		r.mu.Unlock()
		if r.sent == 1 {
			return first
		}
		return errs.New(errs.Refused, fmt.Errorf("%d of %d messages refused; the first: %w", refused, r.sent, first))
	case unacked > 0:
		return errs.Incompletef("%s not acknowledged%s", cmdutil.Plural(unacked, "message"), why)
	case sessErr != nil && srcErr == errStopped:
		return sessErr
	case sessErr != nil && qos == 0 && r.failed.Load() > 0:
		return sessErr
	}
	return nil
}

// summary is pub's result under -o json.
type summary struct {
	Topic           string    `json:"topic"`
	QoS             int       `json:"qos"`
	Sent            int64     `json:"sent"`
	Acknowledged    int64     `json:"acknowledged"` // QoS 0: written
	Refused         int64     `json:"refused"`
	RefusedByReason []refusal `json:"refused_by_reason"`
	Unacknowledged  int64     `json:"unacknowledged"`
	DurationS       float64   `json:"duration_s"`
	Rate            float64   `json:"rate"` // messages sent per second
}

// refusal counts the messages refused for one reason. A message dropped
// after the broker closed the connection over it has reason_code null.
type refusal struct {
	ReasonCode *int   `json:"reason_code"`
	Reason     string `json:"reason"`
	Count      int64  `json:"count"`
}

func (r *run) summary(elapsed time.Duration, unacked int64) summary {
	s := summary{
		Topic: r.plan.msg.Topic, QoS: int(r.plan.msg.QoS),
		Sent: r.sent, Acknowledged: r.acked.Load(), Refused: r.refused.Load(), Unacknowledged: unacked,
		DurationS:       elapsed.Seconds(),
		Rate:            float64(r.sent) / max(elapsed.Seconds(), 1e-9),
		RefusedByReason: []refusal{},
	}
	r.mu.Lock()
	codes := make([]int, 0, len(r.byReason))
	for c := range r.byReason {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		f := refusal{Reason: "dropped", Count: r.byReason[c]}
		if c >= 0 {
			f.ReasonCode = &c
			f.Reason = session.ReasonName(byte(c))
		}
		s.RefusedByReason = append(s.RefusedByReason, f)
	}
	r.mu.Unlock()
	return s
}

// splitHint ends the error of an input larger than the payload limit.
const splitHint = "publish less, or split the input (-l publishes one message per line)"

// quoteArg quotes a flag value for a message, escaped and shortened.
func quoteArg(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
