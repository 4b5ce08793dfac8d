// Package connect is how every command that connects does it (pub, sub,
// pubsub, bench, whoami, profile validate --connect): settings checked
// against the limits, one client-ID rule, the embedded broker when no
// endpoint is set, the auth provider, -v and --debug, and the one call of
// session.Connect under cmd/. It is apart from cmdutil so that packages
// tested with internal/testenv (which uses cmdutil's flags) may be
// imported here.
package connect

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/bench"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/iotctl/iotctl/pkg/session/proxy"
)

// DefaultClientIDPrefix is the prefix of generated client IDs when
// --client-id-prefix is not set and the command has no prefix of its own.
const DefaultClientIDPrefix = "iotctl-"

// EmbeddedListen is where an embedded broker started by a command listens:
// a free loopback port. Tests point it at a busy address.
var EmbeddedListen = "127.0.0.1:0"

// Options say how a command connects.
type Options struct {
	// Embedded: with no endpoint set (the default endpoint), start the
	// embedded broker in this process and connect to it (pubsub, bench).
	Embedded bool
	// ClientIDPrefix is the prefix of generated client IDs when
	// --client-id-prefix is not set ("": DefaultClientIDPrefix).
	ClientIDPrefix string
	// Stderr receives the -v progress, the --debug trace and the embedded
	// broker's errors; it must take writes from several goroutines (a
	// cmdutil.LockedWriter). nil: none of them.
	Stderr io.Writer
	// Warn prints a warning (--insecure, readable secret files).
	Warn func(string)
	// Provider is the auth provider when the command built it already
	// (whoami); nil: Start builds it with cmdutil.NewProvider.
	Provider auth.Provider
}

// Conn is the one way a command connects: New resolves and checks the
// settings against the endpoint's limits and picks the client ID, Start
// starts the embedded broker when asked and builds the provider, Connect
// (or Dialer, for bench's many clients) connects, Close releases what
// Start started.
//
// The client ID rule: --client-id when set (from a flag, IOTCTL_CLIENT_ID
// or the profile; an empty one asks the broker to assign one), else
// --client-id-prefix (default iotctl-, or the command's own: test- for
// pubsub, as the seed sample's policy allows client/test-*) followed by 12
// random hex digits.
type Conn struct {
	// Settings are the command's settings with the chosen client ID and,
	// after Start, the embedded broker's endpoint.
	Settings *profile.Settings
	// Rules are the endpoint's limits (--limits).
	Rules limits.Rules
	// ClientIDPrefix is the prefix of generated client IDs.
	ClientIDPrefix string
	// Embedded is true when Start starts (or started) the embedded broker.
	Embedded bool
	// Provider is the auth provider, after Start.
	Provider auth.Provider

	opts      Options
	broker    *broker.Broker
	logFile   *os.File // --log-file, opened by Start
	log       io.Writer
	closeOnce sync.Once
}

// New checks the settings before anything starts: the endpoint, the
// client ID and the keepalive against the limits. It has no side effects.
func New(st *profile.Settings, o Options) (*Conn, error) {
	sst := *st
	c := &Conn{Settings: &sst, opts: o, Provider: o.Provider}
	c.Embedded = o.Embedded && st.Source("endpoint") == profile.FromDefault
	ep, err := profile.ParseEndpoint(sst.Endpoint)
	if err != nil {
		return nil, errs.Usagef("--endpoint: %v", err)
	}
	if err := session.Check311(&sst); err != nil {
		return nil, err
	}
	c.Rules = limits.For(sst.Limits, ep.Host)
	c.ClientIDPrefix = ClientIDPrefix(st, o.ClientIDPrefix)
	sst.ClientID = ClientID(st, c.ClientIDPrefix)
	if err := c.Rules.ClientID(sst.ClientID); err != nil {
		return nil, err
	}
	if err := c.Rules.Keepalive(sst.Keepalive); err != nil {
		return nil, err
	}
	// A bad --proxy or proxy variable is a usage error before anything
	// starts; the session decides per connection which proxy applies.
	if _, err := proxy.FromSettings(&sst, os.Getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// ClientIDPrefix is --client-id-prefix when set, else the command's
// default (cmdDefault, or DefaultClientIDPrefix when empty).
func ClientIDPrefix(st *profile.Settings, cmdDefault string) string {
	if st.IsSet("client-id-prefix") {
		return st.ClientIDPrefix
	}
	if cmdDefault != "" {
		return cmdDefault
	}
	return DefaultClientIDPrefix
}

// ClientID is --client-id when set (even empty: the broker assigns one),
// else prefix followed by random hex digits.
func ClientID(st *profile.Settings, prefix string) string {
	if st.IsSet("client-id") {
		return st.ClientID
	}
	return session.NewClientID(prefix)
}

// Start starts the embedded broker when New decided to (a failure is
// exit 3, as any connection that cannot be made) and builds the provider.
// Call Close after it, also when it fails.
func (c *Conn) Start(ctx context.Context) error {
	if c.Settings.LogFile != "" && c.logFile == nil {
		f, err := os.OpenFile(c.Settings.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return errs.Usagef("--log-file: %v: give a file you can write", err)
		}
		c.logFile, c.log = f, &cmdutil.LockedWriter{W: f}
	}
	if c.Embedded && c.broker == nil {
		var logger *slog.Logger
		if c.opts.Stderr != nil {
			logger = slog.New(slog.NewTextHandler(c.opts.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		} else {
			logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		b, err := broker.New(broker.Options{Listen: EmbeddedListen, Logger: logger})
		if err != nil {
			return errs.Connectf("start the embedded broker: %v", err)
		}
		c.broker = b
		if err := b.Start(); err != nil {
			return errs.Connectf("start the embedded broker on %s: %v: give --endpoint to use another broker", EmbeddedListen, err)
		}
		c.Settings.Endpoint = b.URL(broker.MQTT)
	}
	if c.Provider == nil {
		p, err := cmdutil.NewProvider(c.Settings, c.opts.Warn)
		if err != nil {
			return err
		}
		c.Provider = p
	}
	return nil
}

// Stderr is Options.Stderr (io.Discard when nil).
func (c *Conn) Stderr() io.Writer {
	if c.opts.Stderr == nil {
		return io.Discard
	}
	return c.opts.Stderr
}

// Close closes the embedded broker (bounded, see CloseEmbedded).
func (c *Conn) Close(ctx context.Context) {
	c.closeOnce.Do(func() {
		if c.broker != nil {
			errOut := c.opts.Stderr
			if errOut == nil {
				errOut = io.Discard
			}
			cmdutil.CloseEmbedded(ctx, c.broker, errOut)
		}
		if c.logFile != nil {
			_ = c.logFile.Close()
		}
	})
}

// Connect opens the session: o's Settings, Provider, Limits, Log and Debug
// are the Conn's (-v and --debug on Stderr) unless o sets them.
func (c *Conn) Connect(ctx context.Context, o session.Options) (*session.Session, error) {
	if o.Settings == nil {
		o.Settings = c.Settings
	}
	if o.Provider == nil {
		o.Provider = c.Provider
	}
	if o.Limits.Name == "" {
		o.Limits = c.Rules
	}
	switch {
	case c.log != nil: // --log-file: the -v log even without -v
		if o.Log == nil {
			o.Log = c.log
		}
		if o.Debug == nil && o.Settings.Debug {
			o.Debug = c.log
		}
	case c.opts.Stderr != nil:
		if o.Log == nil && o.Settings.Verbose {
			o.Log = c.opts.Stderr
		}
		if o.Debug == nil && o.Settings.Debug {
			o.Debug = c.opts.Stderr
		}
	}
	return session.Connect(ctx, o)
}

// Dialer connects bench's clients through Connect, each with its own
// client ID (bench.ClientOptions).
func (c *Conn) Dialer() bench.Dialer {
	return func(ctx context.Context, spec bench.ClientSpec) (*session.Session, error) {
		return c.Connect(ctx, bench.ClientOptions(c.Settings, spec))
	}
}
