// Package sub is `iotctl sub`: subscribe to topic filters and print the
// messages on stdout, one per line, and nothing else there.
package sub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/spf13/cobra"
)

// Options are sub's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)

	Topics            []string
	QoS               int
	Count             int           // exit 0 after this many messages; 0: no limit
	Timeout           time.Duration // total run time allowed; 0: none
	Format            string        // raw | json | Go template; "": from -v and -o
	Verbose           bool          // -v: "topic payload"
	NoNewline         bool
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    int
	RetainedOnly      bool
	RemoveRetained    bool
	mqtt311           bool          // --mqtt-version 3.1.1: no No Local
	RetainedQuiet     time.Duration // --retained-only ends after this long without a message
	Encoding          string        // --encoding: raw payloads printed as text, hex or base64
	FilterOut         []string      // -T: messages on matching topics are acknowledged, not printed or counted
	Unsubscribe       []string      // -U: unsubscribed before subscribing (alone: then exit)
	OutFile           string        // --out-file: append the output to this file
	OutDir            string        // --out-dir: one file per message under this folder
	Quiet             bool          // --quiet: nothing on stdout (with --out-file or --out-dir)
	SubscribeProps    []string      // --subscribe-property key=value: SUBSCRIBE user properties
	subscribeProps    []session.UserProperty

	// Test seams: onSubscribed runs once every SUBACK is in; onMessage runs
	// at the start of the handler.
	onSubscribed func()
	onMessage    func(*session.Message)
}

const (
	// closeTimeout bounds the DISCONNECT and the wait for removals at exit.
	closeTimeout = 5 * time.Second
	// outputGrace is how long the end of a run waits for stdout to accept
	// what is buffered; what it does not accept is not acknowledged.
	outputGrace = time.Second
)

// NewCmdSub returns `iotctl sub`. runF replaces subRun in flag tests.
func NewCmdSub(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "sub -t FILTER [-t FILTER…] [flags]",
		Short: "Subscribe to topic filters and print the messages",
		Long: `Subscribe to one or more topic filters and print each message on stdout.
stdout carries the messages only; status, warnings and errors go to stderr.

Output (-F):
  raw (default)   the payload bytes unchanged, then a newline (-N: none)
  json            one JSON object per line: topic, payload (UTF-8) or
                  payload_base64, qos, retain, properties (user_properties as
                  [key, value] pairs, content_type, response_topic,
                  correlation_data (base64), message_expiry, payload_format,
                  subscription_ids; empty ones left out), received_at (RFC 3339,
                  UTC). -o json means -F json unless -F is given.
                  subscription_ids numbers the -t filters that matched (1 for
                  the first -t), where the broker offers subscription
                  identifiers (mosquitto does; AWS IoT does not).
  '<Go template>' fields .Topic .Payload .PayloadBase64 .QoS .Retain
                  .ReceivedAt (time.Time) .Properties (.UserProperties,
                  .ContentType, .ResponseTopic, .CorrelationData, .MessageExpiry,
                  .PayloadFormat, .SubscriptionIDs; (.Properties.User "key"));
                  functions json, base64, hex; a newline follows (-N: none)
  -v              "topic payload", as mosquitto_sub -v (-F and -o json win)
  --encoding hex|base64
                  raw and -v output print the payload in hex or base64, so
                  binary payloads stay printable (json has payload_base64,
                  templates the functions hex and base64)

Filtering (as mosquitto_sub):
  -T FILTER       messages whose topic matches FILTER are acknowledged but not
                  printed nor counted by -C (repeatable)
  -U FILTER       unsubscribe from FILTER before subscribing, e.g. from a kept
                  session's subscription (repeatable); without -t, sub
                  unsubscribes and exits 0

Ending:
  -C N            exit 0 after N messages; later ones are left unacknowledged,
                  so a persistent session receives them next time
  -W DUR          total time allowed, connecting included: exit 5 when -C was
                  not reached (without -C: when no message arrived), else 0
  --retained-only print retained messages only; exit 0 at the first message
                  that is not retained, or after --retained-quiet (1s) without
                  any message, counted from the SUBACK: even with none
  Ctrl-C/SIGTERM  write the output, DISCONNECT, exit 130
  output fails    disk full or I/O error: exit 7 with the count of messages
                  received but not written; stdout closed (| head): exit 141
                  quietly

A QoS 1 or 2 message is acknowledged only once stdout accepted it (messages
are written in batches, then acknowledged), so messages not written come
again to a persistent session.

--remove-retained publishes an empty retained message to the topic of each
retained message received, which deletes it (as mosquitto_sub
--remove-retained); its subscriptions are no-local so the deletions are not
received back. With a fixed --client-id, --clean-start=false and
--session-expiry, messages published while sub was away are delivered when it
comes back; --clean-start=false without --client-id is a usage error (exit 2),
as in mosquitto_sub, since a generated client ID never resumes a session. The connection is re-established when lost, and the
subscriptions with it.

Files:
  --out-file FILE append the output (-F) to FILE, created 0600 if missing;
                  each batch is written with one write, before its messages
                  are acknowledged, so the file is safe to tail -f and holds
                  every acknowledged message even if sub is killed; a last
                  line left without its newline (a write torn by a kill) gets
                  one before the first message
  --out-dir DIR   one file per message: DIR/<topic levels>/000001.msg, the
                  number counting up per folder after the highest already
                  there; the file holds the payload bytes unchanged (-F raw,
                  the default) or the -F json / template output. Each file
                  is written under a temporary name and renamed. A topic never
                  leads outside DIR: in each level %, /, \, :, *, ?, ", <, >,
                  |, control characters and a trailing dot or space are
                  written %XX; an empty level is the folder %; Windows device
                  names (CON, NUL, COM1…) and names like 000001.msg get one
                  character escaped; a level over 200 bytes is cut and ends
                  with %~ and a hash; levels past 1,024 bytes of folders are
                  one folder %~ and a hash of the topic. Symbolic links in
                  DIR that point outside it are refused. Folders are created 0700, files 0600.
  --quiet         print nothing on stdout (with --out-file or --out-dir)
  A message is acknowledged only once it was written to every output (a
  file: written with write(2), which a killed process does not undo; not
  fsynced). A failed write (disk full) is exit 7 as for stdout.

In sub, -v/--verbose means "print the topic"; progress lines on stderr come
with IOTCTL_VERBOSE=1 or --debug.`,
		Example: `  iotctl sub -t 'sensors/#' -v
  iotctl sub -t a/b -C 1 -W 10s -F json
  iotctl sub -t a/b -F '{{.Topic}} {{.Properties.User "id"}} {{.Payload}}'
  iotctl sub -t '#' --retained-only --remove-retained     # clear all retained messages
  iotctl sub -t jobs/# -q 1 --client-id worker-1 --clean-start=false --session-expiry 1h
  iotctl sub -t 'sensors/#' -T 'sensors/+/debug' -v       # all but the debug topics
  iotctl sub -U jobs/# --client-id worker-1 --clean-start=false --session-expiry 1h   # drop a kept subscription
  iotctl sub -t 'sensors/#' -F json --out-file sensors.log --quiet   # then: tail -f sensors.log
  iotctl sub -t 'sensors/#' -q 1 --out-dir ./capture      # ./capture/sensors/1/temp/000001.msg …
  iotctl sub -t 'sensors/#' --subscribe-property app=dashboard   # user property of the SUBSCRIBE`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return subRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	cmdutil.StringArrayVarP(fl, &opts.Topics, "topic", "t", "topic filter to subscribe to (required unless -U, repeatable)")
	cmdutil.StringArrayVarP(fl, &opts.FilterOut, "filter-out", "T", "skip messages whose topic matches this filter: acknowledged, not printed (repeatable)")
	cmdutil.StringArrayVarP(fl, &opts.Unsubscribe, "unsubscribe", "U", "unsubscribe from this filter first; alone, unsubscribe and exit (repeatable)")
	fl.IntVarP(&opts.QoS, "qos", "q", 0, "QoS of the subscriptions (0, 1 or 2)")
	fl.IntVarP(&opts.Count, "count", "C", 0, "exit after this many messages (0: no limit)")
	cmdutil.DurationVarP(fl, &opts.Timeout, "timeout", "W", 0, "exit after this long in total: code 5 if -C was not reached or nothing arrived (e.g. 10s; bare number: seconds)")
	fl.StringVarP(&opts.Format, "format", "F", "", "output: raw, json or a Go template (default raw; json with -o json)")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, `print "topic payload" (mosquitto_sub -v)`)
	fl.BoolVarP(&opts.NoNewline, "no-newline", "N", false, "no newline after each message (raw, -v and templates)")
	fl.BoolVar(&opts.NoLocal, "no-local", false, "do not receive messages published with this client ID")
	fl.BoolVar(&opts.RetainAsPublished, "retain-as-published", false, "keep the retain flag as published on forwarded messages")
	fl.IntVar(&opts.RetainHandling, "retain-handling", 0, "retained messages at subscribe: 0 send, 1 only for a new subscription, 2 never")
	fl.BoolVar(&opts.RetainedOnly, "retained-only", false, "print retained messages only and exit at the first live one or when quiet")
	fl.BoolVar(&opts.RemoveRetained, "remove-retained", false, "delete each retained message received (publish an empty retained message)")
	cmdutil.DurationVar(fl, &opts.RetainedQuiet, "retained-quiet", time.Second, "with --retained-only, exit after this long without a message")
	cmdutil.AddEncodingFlag(cmd, &opts.Encoding, "how raw output (-F raw, -v) prints payloads")
	fl.StringVar(&opts.OutFile, "out-file", "", "append the output to this file (as well as stdout, unless --quiet)")
	fl.StringVar(&opts.OutDir, "out-dir", "", "write each message to its own file: DIR/<topic levels>/NNNNNN.msg")
	fl.BoolVar(&opts.Quiet, "quiet", false, "print nothing on stdout (with --out-file or --out-dir)")
	cmdutil.StringArrayVar(fl, &opts.SubscribeProps, "subscribe-property", "MQTT5 user property key=value sent in SUBSCRIBE (repeatable)")
	_ = cmd.MarkFlagFilename("out-file")
	_ = cmd.MarkFlagDirname("out-dir")
	cmdutil.Choice{Flag: "qos", Values: cmdutil.QoS}.Register(cmd)
	cmdutil.Choice{Flag: "format", Values: []string{"raw", "json"}, Descriptions: map[string]string{
		"raw": "payload and a newline", "json": "one object per line"}}.Register(cmd)
	cmdutil.Choice{Flag: "retain-handling", Values: []string{"0", "1", "2"}, Descriptions: map[string]string{
		"0": "send retained messages", "1": "only for a new subscription", "2": "never"}}.Register(cmd)
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

// subscriptions checks the flags and filters against the limits and builds
// the SUBSCRIBE list. Nothing here touches the network.
func (o *Options) subscriptions(rules limits.Rules) ([]session.Subscription, error) {
	switch {
	case len(o.Topics) == 0 && len(o.Unsubscribe) == 0:
		return nil, errs.Usagef("sub: no topic filter: give at least one -t FILTER (or -U FILTER to unsubscribe)")
	case o.Count < 0:
		return nil, errs.Usagef("-C %d: the count must not be negative", o.Count)
	case o.Timeout < 0 || o.RetainedQuiet < 0:
		return nil, errs.Usagef("-W and --retained-quiet must not be negative")
	case o.RetainHandling < 0 || o.RetainHandling > 2:
		return nil, errs.Usagef("--retain-handling %d: use 0 (send retained messages), 1 (only for a new subscription) or 2 (never)", o.RetainHandling)
	case o.RetainedOnly && o.RetainHandling == 2:
		return nil, errs.Usagef("--retained-only with --retain-handling 2 would receive nothing: use --retain-handling 0 or 1")
	}
	if err := rules.QoS(o.QoS); err != nil {
		return nil, err
	}
	props, err := session.ParseUserProperties("--subscribe-property", o.SubscribeProps)
	if err != nil {
		return nil, err
	}
	o.subscribeProps = props
	for _, t := range o.FilterOut {
		f, err := limits.ParseFilter(t)
		if err != nil {
			return nil, errs.Usagef("-T: %v", err)
		}
		if f.Share != "" {
			return nil, errs.Usagef("-T %q: a filter-out filter matches topics: give it without $share/NAME/", t)
		}
	}
	for _, t := range o.Unsubscribe {
		if err := rules.Filter(t); err != nil {
			return nil, err
		}
	}
	subs := make([]session.Subscription, 0, len(o.Topics))
	for _, t := range o.Topics {
		if err := rules.Filter(t); err != nil {
			return nil, err
		}
		f, _ := limits.ParseFilter(t)
		shared := f.Share != ""
		if shared && o.NoLocal {
			return nil, errs.Usagef("--no-local with the shared subscription %q: MQTT 5 forbids no-local on shared subscriptions", t)
		}
		subs = append(subs, session.Subscription{
			Filter:            t,
			QoS:               byte(o.QoS),
			NoLocal:           o.NoLocal || (o.RemoveRetained && !shared && !o.mqtt311),
			RetainAsPublished: o.RetainAsPublished,
			RetainHandling:    byte(o.RetainHandling),
		})
	}
	per := len(subs)
	if rules.MaxSubscriptionsPerSubscribe > 0 {
		per = min(per, rules.MaxSubscriptionsPerSubscribe)
	}
	if err := rules.Subscriptions(per, len(subs)); err != nil {
		return nil, err
	}
	return subs, nil
}

// batches splits subs into SUBSCRIBE packets the limits allow.
func batches(subs []session.Subscription, per int) [][]session.Subscription {
	if per <= 0 {
		return [][]session.Subscription{subs}
	}
	var out [][]session.Subscription
	for len(subs) > 0 {
		n := min(per, len(subs))
		out = append(out, subs[:n])
		subs = subs[n:]
	}
	return out
}

func subRun(ctx context.Context, opts *Options) error {
	start := time.Now()
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	if !st.CleanStart && !st.IsSet("client-id") {
		return errs.Usagef("--clean-start=false without --client-id: a generated client ID could never resume the session: give --client-id")
	}
	stderr := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	warn := cmdutil.Warner(stderr)
	conn, err := connect.New(st, connect.Options{Stderr: stderr, Warn: warn})
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := session.Refuse311(st,
		session.Flag{Name: "--no-local", Set: opts.NoLocal},
		session.Flag{Name: "--retain-as-published", Set: opts.RetainAsPublished},
		session.Flag{Name: "--retain-handling", Set: opts.RetainHandling != 0},
		session.Flag{Name: "--subscribe-property", Set: len(opts.SubscribeProps) > 0},
	); err != nil {
		return err
	}
	opts.mqtt311 = session.IsV311(st)
	rules := conn.Rules
	subs, err := opts.subscriptions(rules)
	if err != nil {
		return err
	}
	st = conn.Settings
	fm, err := newFormatter(opts.Format, opts.Verbose, opts.NoNewline, st.Output)
	if err != nil {
		return err
	}
	if fm, err = withEncoding(fm, opts.Encoding); err != nil {
		return err
	}
	out, dir, closeFiles, err := opts.outputs(fm)
	if err != nil {
		return err
	}
	defer closeFiles()
	if err := conn.Start(ctx); err != nil {
		return err
	}

	if _, ok := opts.IO.Out.(*os.File); ok {
		// A closed pipe is a write error to handle (stop acknowledging,
		// disconnect, exit 141), not a signal that kills iotctl with
		// messages acknowledged but not written.
		signal.Ignore(syscall.SIGPIPE)
	}
	r := &runner{
		opts:    opts,
		fm:      fm,
		stamp:   !isRaw(fm),
		verbose: st.Verbose,
		stderr:  stderr,
		ready:   make(chan struct{}),
		stopCh:  make(chan struct{}),
	}
	r.out = newOutput(out, r.ack)
	r.dir = dir
	if opts.RemoveRetained {
		r.rm = newRemover(stderr)
		r.out.remove = func(topics []string) {
			for _, t := range topics {
				r.rm.add(t)
			}
		}
	}
	var deadline time.Time
	cctx := ctx // connect and subscribe, bounded by -W
	if opts.Timeout > 0 {
		deadline = start.Add(opts.Timeout)
		var cancel context.CancelFunc
		cctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	sess, err := conn.Connect(cctx, session.Options{
		Reconnect: true,
		Handler:   r.handle,
		Drained:   r.drained,
		Coalesce:  true,
		Warn:      warn,

		SubscribeProperties: opts.subscribeProps,
	})
	if err != nil {
		return r.startErr(ctx, deadline, "connect to "+st.Endpoint, err)
	}
	r.sess = sess
	close(r.ready)
	if r.rm != nil {
		go r.rm.run(sess)
	}

	per := rules.MaxSubscriptionsPerSubscribe
	if sess.Capabilities().SubIDAvailable && !rules.NoSubscriptionIDs {
		// Number the filters so each message says which -t matched; one
		// SUBSCRIBE carries one identifier.
		for i := range subs {
			subs[i].ID = i + 1
		}
		per = 1
	}
	// A resumed session's messages arrive before the SUBACK. When they
	// complete the run (-C), the handler holds the rest back, the session's
	// reader may stall behind them and the SUBACK may never be read: stop
	// waiting for it then.
	sctx, scancel := context.WithCancel(cctx)
	defer scancel()
	go func() {
		select {
		case <-r.stopCh:
			scancel()
		case <-sctx.Done():
		}
	}()
	if len(opts.Unsubscribe) > 0 {
		if err := sess.Unsubscribe(sctx, opts.Unsubscribe...); err != nil {
			_ = r.shutdown(ctx)
			return r.startErr(ctx, deadline, "unsubscribe", err)
		}
		if st.Verbose {
			fmt.Fprintf(stderr, "unsubscribed from %s\n", quoteList(opts.Unsubscribe))
		}
		if len(subs) == 0 {
			return r.shutdown(ctx)
		}
	}
subscribe:
	for _, batch := range batches(subs, per) {
		codes, err := sess.Subscribe(sctx, batch)
		if err != nil {
			select {
			case <-r.stopCh:
				break subscribe // the run is complete: finish below
			default:
			}
			_ = r.shutdown(ctx)
			return r.startErr(ctx, deadline, "subscribe", err)
		}
		for i, c := range codes {
			if i < len(batch) && c < batch[i].QoS {
				fmt.Fprintf(stderr, "iotctl: warning: subscribe to %s: the broker granted QoS %d, not %d\n", batch[i].Filter, c, batch[i].QoS)
			} else if st.Verbose && i < len(batch) {
				fmt.Fprintf(stderr, "subscribed to %s (QoS %d)\n", batch[i].Filter, c)
			}
		}
	}
	if opts.RetainedOnly {
		r.startQuiet(opts.RetainedQuiet)
	}
	if opts.onSubscribed != nil {
		opts.onSubscribed()
	}

	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	var result error
	timedOut := false
	select {
	case <-r.stopCh:
		result = r.stopErr
	case <-ctx.Done():
		result = errInterrupted
	case <-timeout:
		timedOut = true
	case <-sess.Done():
		result = sess.Err()
		if result == nil {
			result = errors.New("the session ended")
		}
	}
	outErr := r.shutdown(ctx)
	if we := (*writeError)(nil); outErr != nil && outErr != errBlocked && !errors.As(outErr, &we) && result == nil {
		result = outErr // finishing --remove-retained failed
	}
	n := r.received.Load()
	var we *writeError
	switch {
	case errors.As(result, &we) || (errors.As(outErr, &we) && result != errInterrupted):
		return r.writeErr(we.err)
	case result == errInterrupted && outErr == errBlocked:
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted after %s; stdout did not accept the last ones within %s: they were not acknowledged", cmdutil.Plural(n, "message"), outputGrace))
	case result == errInterrupted:
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted after %s", cmdutil.Plural(n, "message")))
	case result != nil:
		return result
	case outErr == errBlocked:
		return errs.New(errs.Output, fmt.Errorf("write the output: stdout did not accept the last messages within %s of the end: they were not acknowledged (a persistent session receives them again)", outputGrace))
	case outErr != nil:
		return outErr
	case timedOut && opts.RetainedOnly:
		return nil
	case timedOut && opts.Count > 0 && n < int64(opts.Count):
		return errs.Timeoutf("timed out after %s: received %d of %d messages (-C %d) on %s: check that something publishes there, or raise -W", opts.Timeout, n, opts.Count, opts.Count, quoteList(opts.Topics))
	case timedOut && n == 0:
		return errs.Timeoutf("timed out after %s: no message on %s: check that something publishes there, or raise -W", opts.Timeout, quoteList(opts.Topics))
	}
	return nil
}

var (
	errInterrupted = errors.New("interrupted")
	errBlocked     = errors.New("stdout did not accept the output in time")
)

// writeError is a failed write of the output.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write the output: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// runner is one sub run: the handler, the output and the way out.
type runner struct {
	opts   *Options
	fm     formatter
	stderr io.Writer
	out    *output

	ready chan struct{} // closed once sess is set
	sess  *session.Session

	stopOnce sync.Once
	stopCh   chan struct{} // closed when the run is complete or failed
	stopErr  error         // set before stopCh closes
	stopping atomic.Bool   // the handler writes nothing more

	stamp    bool // the format shows the time of arrival
	verbose  bool // progress on stderr
	received atomic.Int64
	dropped  atomic.Int64 // received once stopping: neither written nor acknowledged
	dropped0 atomic.Int64 // of which at QoS 0
	quiet    atomic.Pointer[time.Timer]

	rm  *remover   // --remove-retained
	dir *dirWriter // --out-dir
}

// stop ends the run with err (nil: done).
func (r *runner) stop(err error) {
	r.stopOnce.Do(func() {
		r.stopErr = err
		close(r.stopCh)
	})
}

// ack sends the acknowledgements of messages the output wrote.
func (r *runner) ack(acks []session.Ack) {
	if len(acks) == 0 {
		return
	}
	<-r.ready // messages can arrive before Connect returns
	r.sess.Ack(acks...)
}

// handle is the session's handler: it runs for one message at a time. It
// buffers the message and defers its acknowledgement to the output, which
// sends it once the message is written.
func (r *runner) handle(m *session.Message) error {
	if r.opts.onMessage != nil {
		r.opts.onMessage(m)
	}
	if r.stopping.Load() {
		return r.drop(m)
	}
	for _, f := range r.opts.FilterOut {
		if limits.Matches(f, m.Topic) {
			return nil // handled: acknowledged, not shown
		}
	}
	if r.opts.mqtt311 && r.opts.RemoveRetained && !m.Retain && len(m.Payload) == 0 {
		// MQTT 3.1.1 has no No Local: this is a deletion coming back.
		return nil
	}
	var at time.Time
	if r.stamp {
		at = time.Now()
	}
	if r.opts.RetainedOnly {
		if !m.Retain {
			r.stopping.Store(true)
			r.stop(nil)
			return r.drop(m)
		}
		if t := r.quiet.Load(); t != nil {
			t.Reset(r.opts.RetainedQuiet)
		}
	}
	o := r.out
	o.lock()
	if !o.open() {
		o.unlock()
		return r.drop(m)
	}
	if r.dir != nil {
		if err := r.dir.write(m, at); err != nil {
			o.failOne(m.QoS == 0, err)
			o.unlock()
			r.writeFailed(err)
			return session.DeferAck
		}
	}
	// A retained message --remove-retained deletes is deleted once written,
	// with its batch: one that could not be written stays retained.
	remove := r.opts.RemoveRetained && m.Retain && len(m.Payload) > 0
	var err error
	if raw, ok := r.fm.(rawFormat); ok && raw.enc == "" && len(m.Payload) >= bufSize {
		if remove {
			o.removals = append(o.removals, m.Topic)
		}
		err = o.writeParts(m.Ack(), raw.parts(m)...)
	} else {
		b, ferr := r.fm.format(o.buf, m, at)
		if ferr != nil {
			o.unlock()
			r.stopping.Store(true)
			r.stop(fmt.Errorf("format the message on %s: %w", m.Topic, ferr))
			return r.drop(m)
		}
		o.buf = b
		if remove {
			o.removals = append(o.removals, m.Topic)
		}
		err = o.added(m.Ack())
	}
	o.unlock()
	if err != nil {
		r.writeFailed(err)
		return session.DeferAck
	}
	if n := r.received.Add(1); r.opts.Count > 0 && n >= int64(r.opts.Count) {
		r.stopping.Store(true)
		if err := o.flush(); err != nil {
			r.writeFailed(err)
		} else {
			r.stop(nil)
		}
	}
	return session.DeferAck
}

// drained writes the batch when no other message is waiting.
func (r *runner) drained() {
	if err := r.out.flush(); err != nil {
		r.writeFailed(err)
	}
}

// drop leaves a message received after the run stopped unwritten and
// unacknowledged: a persistent session receives it again. The session
// goes on reading until the DISCONNECT, so the count is complete.
func (r *runner) drop(m *session.Message) error {
	r.dropped.Add(1)
	if m.QoS == 0 {
		r.dropped0.Add(1)
	}
	return session.DeferAck
}

func (r *runner) writeFailed(err error) {
	r.stopping.Store(true)
	r.stop(&writeError{err})
}

// writeErr is the error a failed write ends the run with: exit 141 without
// a word for a closed pipe (as `| head` users expect), else exit 7 with the
// count of messages received but not written.
func (r *runner) writeErr(err error) error {
	r.out.lock()
	n, n0 := r.out.lost, r.out.lost0
	r.out.unlock()
	n += int(r.dropped.Load())
	n0 += int(r.dropped0.Load())
	what := cmdutil.Plural(int64(n), "message") + " received but not written"
	switch {
	case n == 0:
	case n0 == n:
		what += " (QoS 0: lost)"
	case n0 > 0:
		what += fmt.Sprintf(": the %d at QoS 1 or 2 were not acknowledged, so a persistent session (--clean-start=false) receives them again; the %d at QoS 0 are lost", n-n0, n0)
	default:
		what += ": not acknowledged, so a persistent session (--clean-start=false) receives them again"
	}
	if isBrokenPipe(err) {
		if r.verbose {
			fmt.Fprintf(r.stderr, "stdout closed: %s\n", what)
		}
		return errs.New(errs.BrokenPipe, fmt.Errorf("write the output: %w: %s", err, what))
	}
	return errs.New(errs.Output, fmt.Errorf("write the output: %w: %s: free space or fix the output, then run sub again", err, what))
}

// startQuiet ends a --retained-only run after d without a message.
func (r *runner) startQuiet(d time.Duration) {
	r.quiet.Store(time.AfterFunc(d, func() {
		r.stopping.Store(true)
		r.stop(nil)
	}))
}

// shutdown stops printing, writes and acknowledges what is buffered,
// finishes removals and disconnects; after a signal (ctx cancelled), within
// shutdown.Budget of it. It returns errBlocked when stdout did not take the
// rest within outputGrace, or the write error, or the removals' error.
func (r *runner) shutdown(ctx context.Context) error {
	r.stopping.Store(true)
	if t := r.quiet.Load(); t != nil {
		t.Stop()
	}
	ctx, cancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
	defer cancel()
	outErr := r.out.finish(outputGrace)
	if outErr != nil && outErr != errBlocked {
		outErr = &writeError{outErr}
	}
	closeCtx := ctx
	if outErr == errBlocked {
		// The handler is stuck in a write the session's Close would wait
		// for: give up on it sooner (ending the process ends the write).
		var c2 context.CancelFunc
		closeCtx, c2 = context.WithTimeout(ctx, outputGrace)
		defer c2()
	}
	var rmErr error
	if r.rm != nil {
		rmErr = r.rm.finish(ctx, r.sess)
	}
	_ = r.sess.Close(closeCtx, 0x00)
	if outErr != nil {
		return outErr
	}
	return rmErr
}

// startErr classifies a failure before the run got going.
func (r *runner) startErr(ctx context.Context, deadline time.Time, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted during %s", what))
	case !deadline.IsZero() && !time.Now().Before(deadline):
		return errs.Timeoutf("timed out after %s during %s: %v: raise -W", r.opts.Timeout, what, err)
	}
	return err
}

func newRemover(stderr io.Writer) *remover {
	return &remover{stderr: stderr, wake: make(chan struct{}, 1), eof: make(chan struct{}), done: make(chan struct{})}
}

// remover publishes the empty retained messages of --remove-retained from
// its own goroutine: Publish may wait for the in-flight window, which the
// handler must never do.
type remover struct {
	stderr io.Writer
	wake   chan struct{}
	eof    chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	topics []string
	err    error
}

func (rm *remover) add(topic string) {
	rm.mu.Lock()
	rm.topics = append(rm.topics, topic)
	rm.mu.Unlock()
	select {
	case rm.wake <- struct{}{}:
	default:
	}
}

func (rm *remover) run(sess *session.Session) {
	defer close(rm.done)
	qos := min(byte(1), sess.Capabilities().MaximumQoS)
	for {
		rm.mu.Lock()
		topics := rm.topics
		rm.topics = nil
		rm.mu.Unlock()
		for _, t := range topics {
			m := &session.Message{Topic: t, QoS: qos, Retain: true}
			err := sess.Publish(context.Background(), m, func(err error) {
				if err != nil {
					rm.fail(t, err)
				}
			})
			if err != nil {
				rm.fail(t, err)
			}
		}
		if len(topics) > 0 {
			continue
		}
		select {
		case <-rm.wake:
		case <-rm.eof:
			rm.mu.Lock()
			left := len(rm.topics)
			rm.mu.Unlock()
			if left == 0 {
				return
			}
		}
	}
}

func (rm *remover) fail(topic string, err error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if errors.Is(err, session.ErrClosed) {
		return
	}
	fmt.Fprintf(rm.stderr, "iotctl: remove the retained message on %s: %v\n", topic, err)
	if rm.err == nil {
		rm.err = err
	}
}

// finish publishes what is queued and waits for the acknowledgements.
func (rm *remover) finish(ctx context.Context, sess *session.Session) error {
	close(rm.eof)
	select {
	case <-rm.done:
	case <-ctx.Done():
	}
	if err := sess.Flush(ctx); err != nil {
		rm.fail("(all)", fmt.Errorf("waiting for acknowledgements: %w", err))
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.err
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
