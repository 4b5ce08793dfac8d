// Package pubsub is `iotctl pubsub`: the AWS IoT SDK's mqtt5_pubsub sample
// as a command. Connect, subscribe at QoS 1, publish --count QoS 1 messages,
// wait until all of them came back, unsubscribe, disconnect. With no
// endpoint it runs against the embedded broker, started in-process.
package pubsub

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/esc"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

// Options are pubsub's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Warn     func(string)

	Topic    string
	Message  string
	Count    int
	Interval time.Duration
	Timeout  time.Duration
}

const closeTimeout = 5 * time.Second

// NewCmdPubSub returns `iotctl pubsub`. runF replaces pubsubRun in flag tests.
func NewCmdPubSub(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Warn: f.Warn}
	cmd := &cobra.Command{
		Use:   "pubsub [flags]",
		Short: "Run the AWS IoT SDK pub/sub sample: subscribe, publish, receive",
		Long: `Reproduce the AWS IoT Device SDK's mqtt5_pubsub sample: connect, subscribe
at QoS 1 to --topic, publish --count QoS 1 messages "<--message> [n]" one
every --interval (each waits for its PUBACK), wait until all of them have
been received back, unsubscribe and disconnect.

Received messages are printed on stdout, one line each:
  Received message on topic <topic>: <payload>
Every step goes to stderr.

With -o json, stdout has one document instead, printed when pubsub ends
after connecting (whatever the exit code): endpoint, embedded_broker,
client_id, topic, subscribed (SUBACK reason_code and reason), published
(message, payload, PUBACK reason_code and reason, in order), received
(topic and payload, or payload_base64 when not UTF-8, in order of arrival),
expected and received_all.

With no --endpoint (and none in the profile or IOTCTL_ENDPOINT), pubsub starts
the embedded broker in-process on a free loopback port and runs against it,
so it works on a machine with nothing else installed.

The client ID is --client-id, else --client-id-prefix (default test- here, as
the sample's policy allows client/test-*) and 12 random hex digits.
The seed spellings --ca_file, --client_id and --port_override work.

Exit codes: 0 all received, 4 the broker refused the connection, subscription
or a message, 5 not every message came back within --timeout after the last
publish, 130 interrupted.`,
		Example: `  iotctl pubsub
  iotctl pubsub --endpoint xxxx-ats.iot.us-east-1.amazonaws.com --cert device.pem.crt --key private.pem.key
  iotctl pubsub --endpoint localhost:1883 --count 5 --interval 100ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return pubsubRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Topic, "topic", "t", "test/topic", "topic to subscribe and publish to")
	fl.StringVarP(&opts.Message, "message", "m", "Hello World!", "message text; \" [n]\" is appended")
	fl.IntVar(&opts.Count, "count", 10, "number of messages to publish")
	cmdutil.DurationVar(fl, &opts.Interval, "interval", time.Second, "time between publishes")
	cmdutil.DurationVar(fl, &opts.Timeout, "timeout", 30*time.Second, "how long to wait for the messages to come back after the last publish")
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

func pubsubRun(ctx context.Context, opts *Options) (err error) {
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	if opts.Count < 0 {
		return errs.Usagef("--count %d: must not be negative", opts.Count)
	}
	if opts.Interval < 0 || opts.Timeout < 0 {
		return errs.Usagef("--interval and --timeout must not be negative")
	}
	stderr := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	stdout := &cmdutil.LockedWriter{W: opts.IO.Out}
	out := cmdutil.Output{Format: st.Output}
	rep := &report{Topic: opts.Topic, Expected: opts.Count, Subscribed: []reason{}, Published: []published{}, Received: []received{}}
	// test-: the seed sample's policy allows client/test-*.
	conn, err := connect.New(st, connect.Options{Embedded: true, ClientIDPrefix: "test-", Stderr: stderr, Warn: opts.Warn})
	if err != nil {
		return err
	}
	rules := conn.Rules
	if err := rules.Topic(opts.Topic); err != nil {
		return err
	}
	if err := rules.Filter(opts.Topic); err != nil {
		return err
	}
	for i := 1; i <= opts.Count; i++ {
		if err := rules.Payload(len(payload(opts.Message, i))); err != nil {
			return err
		}
	}
	defer conn.Close(ctx)
	if err := conn.Start(ctx); err != nil {
		return err
	}
	sst := conn.Settings
	rep.Embedded = conn.Embedded
	if conn.Embedded {
		fmt.Fprintf(stderr, "No endpoint given: started the embedded broker on %s\n", sst.Endpoint)
	}

	var received atomic.Int64
	all := make(chan struct{})
	var allOnce sync.Once
	so := session.Options{
		Reconnect: true,
		// A one-shot command: give up after 10 failed reconnects in a row.
		MaxReconnects: 10,
		Warn:          opts.Warn,
		Handler: func(m *session.Message) error {
			if out.JSON() {
				rep.receive(m)
			} else {
				fmt.Fprintf(stdout, "Received message on topic %s: %s\n", esc.String(m.Topic), m.Payload)
			}
			if n := received.Add(1); n >= int64(opts.Count) {
				allOnce.Do(func() { close(all) })
			}
			return nil
		},
	}
	if opts.Count == 0 {
		allOnce.Do(func() { close(all) })
	}

	fmt.Fprintf(stderr, "Connecting to %s with client ID '%s'...\n", sst.Endpoint, sst.ClientID)
	sess, err := conn.Connect(ctx, so)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Connected\n")
	rep.Endpoint, rep.ClientID = sst.Endpoint, sess.ClientID()
	if out.JSON() {
		// The report is printed on every exit after connecting; a failing
		// stdout only replaces success.
		defer func() {
			rep.mu.Lock()
			defer rep.mu.Unlock()
			rep.ReceivedAll = len(rep.Received) >= opts.Count
			if werr := cmdutil.WriteJSON(opts.IO.Out, rep); werr != nil && err == nil {
				err = werr
			}
		}()
	}
	closeSess := func() {
		cctx, cancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
		defer cancel()
		_ = sess.Close(cctx, 0x00)
		fmt.Fprintf(stderr, "Disconnected\n")
	}

	codes, err := sess.Subscribe(ctx, []session.Subscription{{Filter: opts.Topic, QoS: 1}})
	if err != nil {
		closeSess()
		return interrupted(ctx, err)
	}
	for _, c := range codes {
		fmt.Fprintf(stderr, "Subscribed to %s: SUBACK reason code 0x%02X (%s)\n", opts.Topic, c, session.ReasonName(c))
		rep.Subscribed = append(rep.Subscribed, reasonOf(c))
	}

	var refused error
	ticker := time.NewTicker(max(opts.Interval, time.Microsecond))
	defer ticker.Stop()
	for i := 1; i <= opts.Count; i++ {
		if i > 1 && opts.Interval > 0 {
			select {
			case <-ticker.C:
			case <-ctx.Done():
				closeSess()
				return interrupted(ctx, ctx.Err())
			}
		}
		text := payload(opts.Message, i)
		fmt.Fprintf(stderr, "Publishing message to topic '%s': %s\n", opts.Topic, text)
		acked := make(chan error, 1)
		m := &session.Message{Topic: opts.Topic, Payload: []byte(text), QoS: 1}
		if err := sess.Publish(ctx, m, func(err error) { acked <- err }); err != nil {
			closeSess()
			return interrupted(ctx, err)
		}
		var ackErr error
		select {
		case ackErr = <-acked:
		case <-ctx.Done():
			closeSess()
			return interrupted(ctx, ctx.Err())
		}
		var re *session.ReasonError
		switch {
		case ackErr == nil:
			fmt.Fprintf(stderr, "PUBACK received for message [%d]: success (0x00)\n", i)
			rep.publish(i, text, 0)
		case errors.As(ackErr, &re):
			fmt.Fprintf(stderr, "PUBACK received for message [%d]: %s (0x%02X)\n", i, session.ReasonName(re.Code), re.Code)
			rep.publish(i, text, re.Code)
			if refused == nil {
				refused = ackErr
			}
		default:
			closeSess()
			return interrupted(ctx, ackErr)
		}
	}

	timer := time.NewTimer(opts.Timeout)
	defer timer.Stop()
	var result error
	select {
	case <-all:
	case <-timer.C:
		result = errs.Timeoutf("received %d of %d messages on %s within %s of the last publish: check that the policy allows iot:Receive on the topic (or raise --timeout)", received.Load(), opts.Count, opts.Topic, opts.Timeout)
	case <-ctx.Done():
		closeSess()
		return interrupted(ctx, ctx.Err())
	case <-sess.Done():
		return sess.Err()
	}
	if result == nil {
		fmt.Fprintf(stderr, "Received all %d messages\n", received.Load())
	}
	uctx, cancel := context.WithTimeout(ctx, closeTimeout)
	if err := sess.Unsubscribe(uctx, opts.Topic); err != nil {
		fmt.Fprintf(stderr, "Unsubscribe from %s: %v\n", opts.Topic, err)
	} else {
		fmt.Fprintf(stderr, "Unsubscribed from %s\n", opts.Topic)
	}
	cancel()
	closeSess()
	fmt.Fprintf(stderr, "Stopped\n")
	if refused != nil {
		return refused
	}
	return result
}

// report is pubsub's result under -o json: one document, printed when it
// ends after connecting, whatever the exit code.
type report struct {
	mu sync.Mutex // Received is appended to by the session's handler

	Endpoint    string      `json:"endpoint"`
	Embedded    bool        `json:"embedded_broker"`
	ClientID    string      `json:"client_id"`
	Topic       string      `json:"topic"`
	Subscribed  []reason    `json:"subscribed"` // SUBACK reason code
	Published   []published `json:"published"`  // in order, with the PUBACK reason code
	Received    []received  `json:"received"`   // in order of arrival
	Expected    int         `json:"expected"`
	ReceivedAll bool        `json:"received_all"`
}

type reason struct {
	ReasonCode int    `json:"reason_code"`
	Reason     string `json:"reason"`
}

func reasonOf(c byte) reason { return reason{ReasonCode: int(c), Reason: session.ReasonName(c)} }

type published struct {
	Message int    `json:"message"`
	Payload string `json:"payload"`
	reason
}

// received is a message that came back: payload as text when it is UTF-8,
// else payload_base64.
type received struct {
	Topic         string `json:"topic"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
}

func (r *report) publish(n int, text string, code byte) {
	r.Published = append(r.Published, published{Message: n, Payload: text, reason: reasonOf(code)})
}

func (r *report) receive(m *session.Message) {
	v := received{Topic: m.Topic}
	if utf8.Valid(m.Payload) {
		v.Payload = string(m.Payload)
	} else {
		v.PayloadBase64 = base64.StdEncoding.EncodeToString(m.Payload)
	}
	r.mu.Lock()
	r.Received = append(r.Received, v)
	r.mu.Unlock()
}

func payload(msg string, n int) string { return fmt.Sprintf("%s [%d]", msg, n) }

// interrupted turns a cancellation into exit 130.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted"))
	}
	return err
}
