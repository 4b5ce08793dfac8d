package reply

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/procgroup"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/session"
)

// answer is what a request gets back.
type answer struct {
	payload []byte
	code    int
	errLine string // on failure
}

// serve answers one request, then acknowledges it once the answer was
// published. A request whose command was killed by the shutdown is left
// unacknowledged.
func (r *replier) serve(m *session.Message) {
	<-r.ready
	a, ok := r.answer(m)
	if !ok {
		return
	}
	if err := r.rules.Payload(len(a.payload)); err != nil {
		a = answer{code: a.code, errLine: fmt.Sprintf("the output of %d bytes is too large to publish: %v", len(a.payload), err)}
		r.opts.Warn(fmt.Sprintf("answer on %s: %s", m.Props.ResponseTopic, a.errLine))
	}
	props := session.Properties{
		CorrelationData: m.Props.CorrelationData,
		UserProperties:  []session.UserProperty{{Key: "exit_code", Value: strconv.Itoa(a.code)}},
	}
	if a.code != 0 && a.errLine != "" {
		props.UserProperties = append(props.UserProperties, session.UserProperty{Key: "error", Value: a.errLine})
	}
	if r.opts.mqtt311 {
		props = session.Properties{} // 3.1.1: the bare output
	}
	resp := &session.Message{Topic: m.Props.ResponseTopic, Payload: a.payload, QoS: m.QoS, Props: props}
	if err := r.rules.Topic(resp.Topic); err != nil {
		r.opts.Warn(fmt.Sprintf("request on %s: response topic: %v: not answered", m.Topic, err))
		r.sess.Ack(m.Ack())
		return
	}
	done := make(chan error, 1)
	err := r.sess.Publish(r.pubCtx, resp, func(err error) { done <- err })
	if err == nil {
		select {
		case err = <-done:
		case <-r.pubCtx.Done():
			err = r.pubCtx.Err()
		}
	}
	var re *session.ReasonError
	switch {
	case err == nil:
		r.answered.Add(1)
		if r.verbose {
			fmt.Fprintf(r.stderr, "answered a request on %s (exit_code %d) on %s\n", esc.String(m.Topic), a.code, esc.String(resp.Topic))
		}
	case errors.As(err, &re):
		// Delivering the request again would be refused again.
		r.opts.Warn(fmt.Sprintf("answer on %s: %v", resp.Topic, err))
	default:
		return // lost connection or shutdown: delivered again
	}
	r.sess.Ack(m.Ack())
}

// answer runs the command (or echoes); ok is false when the shutdown
// killed it.
func (r *replier) answer(m *session.Message) (answer, bool) {
	if r.opts.Echo {
		return answer{payload: m.Payload}, true
	}
	ctx := r.cmdCtx
	if r.opts.CmdTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opts.CmdTimeout)
		defer cancel()
	}
	c := exec.CommandContext(ctx, r.opts.Command[0], r.opts.Command[1:]...)
	c.Stdin = bytes.NewReader(m.Payload)
	out := &capped{max: r.rules.MaxPayload}
	last := &lastLine{w: r.stderr}
	c.Stdout, c.Stderr = out, last
	c.Env = commandEnv(os.Environ(), m)
	procgroup.OwnContext(c)
	c.WaitDelay = 500 * time.Millisecond // a grandchild holding the pipes open
	err := c.Run()
	// A line of output is the answer: its newline is not (req and
	// mosquitto_rr print one after each response).
	stdout := bytes.TrimSuffix(bytes.TrimSuffix(out.buf.Bytes(), []byte("\n")), []byte("\r"))
	var ee *exec.ExitError
	switch {
	case r.cmdCtx.Err() != nil:
		return answer{}, false
	case out.over:
		return answer{code: 1, errLine: fmt.Sprintf("the output is too large to publish: more than %d bytes", out.max)}, true
	case ctx.Err() != nil:
		return answer{payload: stdout, code: timeoutExitCode, errLine: "timed out after " + r.opts.CmdTimeout.String()}, true
	case err == nil:
		return answer{payload: stdout}, true
	case errors.As(err, &ee):
		code := ee.ExitCode()
		line := last.String()
		if code < 0 { // killed by a signal
			code, line = 1, ee.String()
		}
		return answer{payload: stdout, code: code, errLine: line}, true
	}
	return answer{code: 127, errLine: err.Error()}, true
}

// commandEnv is the command's environment: iotctl's without its own
// IOTCTL_* settings (secrets among them), and the request's.
func commandEnv(env []string, m *session.Message) []string {
	return cmdutil.ChildEnv(env,
		"IOTCTL_TOPIC="+m.Topic,
		"IOTCTL_RESPONSE_TOPIC="+m.Props.ResponseTopic,
		"IOTCTL_CORRELATION_DATA="+hex.EncodeToString(m.Props.CorrelationData),
		"IOTCTL_QOS="+strconv.Itoa(int(m.QoS)),
	)
}

// errTooLarge stops copying a command's output once it cannot be published.
var errTooLarge = errors.New("output too large")

// capped keeps a command's output up to max bytes (one newline more):
// beyond, Write fails, which closes the command's stdout (SIGPIPE) rather
// than buffer an endless output.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max+1 {
		c.over = true
		return 0, errTooLarge
	}
	return c.buf.Write(p)
}

// lastLine copies a command's stderr to w and keeps its last non-empty line.
type lastLine struct {
	w    interface{ Write([]byte) (int, error) }
	tail []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	_, _ = l.w.Write(p)
	l.tail = append(l.tail, p...)
	if len(l.tail) > 4096 {
		l.tail = l.tail[len(l.tail)-4096:]
	}
	return len(p), nil
}

func (l *lastLine) String() string {
	s := strings.TrimRight(string(l.tail), "\r\n \t")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
