package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// connLog writes the connection lines of Options.Verbose. It remembers
// which connections got a session, so a connection that ends before one
// (refused, bad TLS, no CONNECT) gets its own line.
type connLog struct {
	log     *slog.Logger
	verbose bool
	live    sync.Map // net.Conn → struct{}: sessions established
}

func (c *connLog) established(cl *Client) {
	c.live.Store(cl.Net.Conn, struct{}{})
	c.log.Info("client connected", "client", cl.ID, "remote", cl.Net.Remote, "listener", cl.Net.Listener, "mqtt", mqttVersion(cl.Properties.ProtocolVersion))
}

// mqttVersion names a CONNECT's protocol level: 3 (MQTT 3.1), 4 (3.1.1), 5.
func mqttVersion(level byte) string {
	switch level {
	case 3:
		return "3.1"
	case 4:
		return "3.1.1"
	}
	return strconv.Itoa(int(level))
}

func (c *connLog) disconnected(cl *Client, err error) {
	attrs := []any{"client", cl.ID, "remote", cl.Net.Remote, "listener", cl.Net.Listener}
	if reason := disconnectReason(err); reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	c.log.Info("client disconnected", attrs...)
}

// ended is called when the broker is done with a connection.
func (c *connLog) ended(conn net.Conn, listener string, err error) {
	if _, ok := c.live.LoadAndDelete(conn); ok || !c.verbose {
		return
	}
	attrs := []any{"remote", conn.RemoteAddr().String(), "listener", listener}
	if reason := disconnectReason(err); reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	c.log.Info("connection closed before a session", attrs...)
}

// disconnectReason is "" for a normal end, else the error's text.
func disconnectReason(err error) string {
	var code packets.Code
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return ""
	case errors.Is(err, errNormal), errors.Is(err, net.ErrClosed):
		return ""
	case errors.As(err, &code) && code.Code == packets.CodeDisconnect.Code:
		return ""
	}
	return err.Error()
}

// minLevel drops records below a level.
type minLevel struct {
	min slog.Level
	h   slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.min, m.h.WithAttrs(a)}
}
func (m minLevel) WithGroup(name string) slog.Handler { return minLevel{m.min, m.h.WithGroup(name)} }
