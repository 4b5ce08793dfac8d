package shadow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/iotsvc"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

// WatchOptions are shadow watch's flags and dependencies.
type WatchOptions struct {
	Common

	Delta     bool
	Documents bool
	Count     int // exit 0 after this many messages; 0: no limit
}

// NewCmdWatch returns `iotctl shadow watch`. runF replaces watchRun in
// flag tests.
func NewCmdWatch(f *cmdutil.Factory, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [--thing T] [--name N] [--delta | --documents] [-C N] [-W DUR]",
		Short: "Print a shadow's deltas or update documents as they happen",
		Long: `Subscribe to the shadow's update/delta topic (--delta, the default: what a
device acts on, the desired state that differs from the reported one) or
update/documents (--documents: the previous and current document of every
update) and print each message on stdout: -o json (the default here) one
JSON object per line, as the service sent it; -o text one readable line.

It runs until -C messages arrived (exit 0), -W passed (exit 5 if -C was not
reached or nothing arrived, as sub -W) or a signal (exit 130). A lost
connection is made again without limit (--max-reconnects to bound it).`,
		Example: `  # the device waits for what to change
  iotctl shadow watch --thing sensor-7 --delta

  # one delta within a minute, for scripts
  iotctl shadow watch --thing sensor-7 -C 1 -W 1m | jq .state

  # every update of a named shadow
  iotctl shadow watch --thing sensor-7 --name config --documents -o text`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return watchRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Delta, "delta", false, "print update/delta messages (the default)")
	fl.BoolVar(&opts.Documents, "documents", false, "print update/documents messages instead")
	fl.IntVarP(&opts.Count, "count", "C", 0, "exit after this many messages (0: no limit)")
	addCommon(f, cmd, &opts.Common)
	cmdutil.DurationVarP(fl, &opts.Timeout, "timeout", "W", 0, "exit after this long in total: code 5 if -C was not reached or nothing arrived (bare number: seconds)")
	return cmd
}

func watchRun(ctx context.Context, opts *WatchOptions) error {
	start := time.Now()
	switch {
	case opts.Delta && opts.Documents:
		return errs.Usagef("shadow watch: --delta and --documents: give one")
	case opts.Count < 0:
		return errs.Usagef("-C %d: the count must not be negative", opts.Count)
	}
	st, t, err := opts.resolve()
	if err != nil {
		return err
	}
	stream := "update/delta"
	if opts.Documents {
		stream = "update/documents"
	}
	topic := t.topic(stream)

	var deadline time.Time
	cctx := ctx // connect and subscribe, bounded by -W
	if opts.Timeout > 0 {
		deadline = start.Add(opts.Timeout)
		var cancel context.CancelFunc
		cctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	startErr := func(what string, err error) error {
		switch {
		case ctx.Err() != nil:
			return errs.New(errs.Interrupted, fmt.Errorf("interrupted during %s", what))
		case !deadline.IsZero() && !time.Now().Before(deadline):
			return errs.Timeoutf("timed out after %s during %s: %v: raise -W", opts.Timeout, what, err)
		}
		return err
	}
	if _, ok := opts.IO.Out.(*os.File); ok {
		// A closed pipe is a write error to end on (exit 141), not a
		// signal that kills iotctl before it disconnects.
		signal.Ignore(syscall.SIGPIPE)
	}
	cl, err := dial(cctx, st, opts.IO, true)
	if err != nil {
		return startErr("connect to "+st.Endpoint, err)
	}
	defer cl.close(ctx)
	w := &watcher{out: opts.IO.Out, stderr: cl.stderr, json: jsonOutput(st), count: opts.Count, done: make(chan struct{})}
	if err := cl.svc.Watch(cctx, topic, w.receive); err != nil {
		return startErr("subscribe to "+topic, err)
	}
	if st.Verbose {
		fmt.Fprintf(cl.stderr, "watching %s\n", topic)
	}

	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		w.stop()
		return errs.New(errs.Interrupted, fmt.Errorf("interrupted after %s", cmdutil.Plural(w.received(), "message")))
	case <-timeout:
		w.stop()
	case <-cl.sess.Done():
		w.stop()
		if err := cl.sess.Err(); err != nil {
			return err
		}
		return errors.New("the session ended")
	}
	n := w.received()
	switch {
	case w.err != nil && errors.Is(w.err, syscall.EPIPE):
		return errs.New(errs.BrokenPipe, fmt.Errorf("write the output: %w", w.err))
	case w.err != nil:
		return errs.New(errs.Output, fmt.Errorf("write the output: %w: free space or fix the output", w.err))
	case opts.Count > 0 && n < int64(opts.Count):
		return errs.Timeoutf("timed out after %s: received %d of %d messages (-C %d) on %s: check that something updates the shadow, or raise -W", opts.Timeout, n, opts.Count, opts.Count, topic)
	case n == 0:
		return errs.Timeoutf("timed out after %s: no message on %s: check that something updates the shadow, or raise -W", opts.Timeout, topic)
	}
	return nil
}

// watcher prints the stream's messages from the session's handler.
type watcher struct {
	out    io.Writer
	stderr io.Writer
	json   bool
	count  int
	done   chan struct{}

	mu      sync.Mutex
	n       int64
	err     error // the output's write error
	stopped bool
}

// receive writes one message; it is acknowledged only once written (a
// message after -C, or one that could not be written, is left
// unacknowledged, so a kept session gets it again).
func (w *watcher) receive(r *iotsvc.Reply) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return session.DeferAck
	}
	line, err := w.format(r.Payload)
	if err != nil {
		fmt.Fprintf(w.stderr, "iotctl: warning: ignored a message on %s that is not a JSON object\n", esc.String(r.Topic))
		return nil
	}
	if _, err := io.WriteString(w.out, line+"\n"); err != nil {
		w.err = err
		w.stopLocked()
		return session.DeferAck
	}
	w.n++
	if w.count > 0 && w.n >= int64(w.count) {
		w.stopLocked()
	}
	return nil
}

func (w *watcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
}

func (w *watcher) stopLocked() {
	if !w.stopped {
		w.stopped = true
		close(w.done)
	}
}

func (w *watcher) received() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// streamMessage is what a text line shows of a delta or documents message.
type streamMessage struct {
	State     json.RawMessage `json:"state"`
	Version   *int64          `json:"version"`
	Timestamp *int64          `json:"timestamp"`
	Previous  *struct {
		Version *int64 `json:"version"`
	} `json:"previous"`
	Current *struct {
		State   json.RawMessage `json:"state"`
		Version *int64          `json:"version"`
	} `json:"current"`
}

// format is one output line: the message as compact JSON, or readable.
func (w *watcher) format(payload []byte) (string, error) {
	var m streamMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", err
	}
	if bytes.Equal(bytes.TrimSpace(payload), []byte("null")) { // decodes as an empty object
		return "", errors.New("null is no JSON object")
	}
	if w.json {
		return string(compactRaw(payload)), nil
	}
	var b strings.Builder
	if m.Current != nil { // update/documents
		fmt.Fprintf(&b, "version %s", version(m.Current.Version))
		if m.Previous != nil && m.Previous.Version != nil {
			fmt.Fprintf(&b, " (was %d)", *m.Previous.Version)
		}
	} else {
		fmt.Fprintf(&b, "version %s", version(m.Version))
	}
	if m.Timestamp != nil {
		b.WriteString(" at " + stamp(*m.Timestamp))
	}
	b.WriteString(":")
	if m.Current != nil {
		var st map[string]json.RawMessage
		_ = json.Unmarshal(m.Current.State, &st)
		for _, section := range []string{"desired", "reported"} {
			if raw, ok := st[section]; ok {
				b.WriteString(" " + section + " " + compact(raw))
			}
		}
		return b.String(), nil
	}
	lines := flatten(m.State)
	if len(lines) == 0 {
		b.WriteString(" " + compact(m.State))
	}
	for _, l := range lines {
		b.WriteString(" " + l + ";")
	}
	return strings.TrimSuffix(b.String(), ";"), nil
}

func version(v *int64) string {
	if v == nil {
		return "?"
	}
	return fmt.Sprint(*v)
}
