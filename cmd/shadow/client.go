package shadow

import (
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
)

const (
	// closeTimeout bounds the DISCONNECT at the end.
	closeTimeout = 5 * time.Second
	// oneShotReconnects is the requests' default for --max-reconnects.
	oneShotReconnects = 10
)

// client is one connection to the Device Shadow service.
type client struct {
	conn   *connect.Conn
	sess   *session.Session
	svc    *iotsvc.Client
	stderr io.Writer
}

// dial connects with the command's settings. A stream (watch) reconnects
// without limit, a request up to oneShotReconnects times in a row.
func dial(ctx context.Context, st *profile.Settings, ios *cmdutil.IOStreams, stream bool) (*client, error) {
	stderr := &cmdutil.LockedWriter{W: ios.ErrOut}
	warn := func(msg string) { fmt.Fprintf(stderr, "iotctl: warning: %s\n", msg) }
	conn, err := connect.New(st, connect.Options{Stderr: stderr, Warn: warn})
	if err != nil {
		return nil, err
	}
	if err := conn.Start(ctx); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	max := oneShotReconnects
	if stream {
		max = 0
	}
	svc := iotsvc.New()
	sess, err := conn.Connect(ctx, session.Options{Reconnect: true, MaxReconnects: max, Handler: svc.Handle, Warn: warn})
	if err != nil {
		conn.Close(ctx)
		if ctx.Err() != nil {
			return nil, errs.New(errs.Interrupted, fmt.Errorf("interrupted while connecting to %s", conn.Settings.Endpoint))
		}
		return nil, err
	}
	svc.Bind(sess)
	return &client{conn: conn, sess: sess, svc: svc, stderr: stderr}, nil
}

// close disconnects; after a signal, within shutdown.Budget of it.
func (c *client) close(ctx context.Context) {
	cctx, cancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
	defer cancel()
	_ = c.sess.Close(cctx, 0x00)
	c.conn.Close(cctx)
}

// do sends one request and waits for its answer at most timeout (0: no
// limit).
func (c *client) do(ctx context.Context, timeout time.Duration, topic string, body map[string]any) (*iotsvc.Reply, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.svc.Do(ctx, iotsvc.Request{Topic: topic, Body: body})
}

// request runs one request of a one-shot command: connect, send, answer,
// disconnect. A version conflict (409) names the shadow's current version.
func request(ctx context.Context, c *Common, st *profile.Settings, t target, op string, body map[string]any) (*iotsvc.Reply, error) {
	cl, err := dial(ctx, st, c.IO, false)
	if err != nil {
		return nil, err
	}
	defer cl.close(ctx)
	rep, err := cl.do(ctx, c.Timeout, t.topic(op), body)
	var rej *iotsvc.Rejected
	if errors.As(err, &rej) && rej.Code == "409" {
		err = cl.conflict(ctx, c.Timeout, t, body["version"], err)
	}
	return rep, err
}

// conflict completes a 409 with the version the shadow is at, from a get.
func (c *client) conflict(ctx context.Context, timeout time.Duration, t target, sent any, err error) error {
	rep, gerr := c.do(ctx, timeout, t.topic("get"), nil)
	if gerr != nil {
		return fmt.Errorf("%w (could not read the current version: %v)", err, gerr)
	}
	var doc document
	if json.Unmarshal(rep.Payload, &doc) != nil || doc.Version == nil {
		return err
	}
	if sent != nil {
		return fmt.Errorf("%w: %s is at version %d, not %v: read it (iotctl shadow get) and retry with --version %d", err, t, *doc.Version, sent, *doc.Version)
	}
	return fmt.Errorf("%w: %s is at version %d", err, t, *doc.Version)
}
