package bench

import (
	"context"
	"io"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// ClientOptions are the session options of one bench client over the
// profile's settings: its own client ID, its handler and reconnects.
// Subscribers advertise Receive Maximum 65535 unless --receive-maximum was
// set (MQTT 3.1.1 has none to advertise). The caller adds the provider, limits and log writers.
func ClientOptions(base *profile.Settings, c ClientSpec) session.Options {
	st := *base
	st.ClientID = c.ClientID
	if c.Handler != nil && !base.IsSet("receive-maximum") && !session.IsV311(base) {
		// Subscribers take all the broker will send, so their flow
		// control is not what is measured.
		st.ReceiveMaximum = 65535
	}
	return session.Options{
		Settings:  &st,
		Reconnect: c.Reconnect,
		// A client that cannot get back gives up (--max-reconnects).
		MaxReconnects: 10,
		OnConnect:     c.OnConnect,
		Handler:       c.Handler,
		TopicAlias:    c.TopicAlias,
	}
}

// SessionDialer connects through pkg/session with the profile's settings
// and auth provider (ClientOptions); log and debug (may be nil) receive -v
// lines and the --debug packet trace. iotctl bench dials through
// cmd/cmdutil/connect instead; this one serves the package's tests.
func SessionDialer(base *profile.Settings, p auth.Provider, rules limits.Rules, log, debug io.Writer) Dialer {
	return func(ctx context.Context, c ClientSpec) (*session.Session, error) {
		o := ClientOptions(base, c)
		o.Provider, o.Limits, o.Log, o.Debug = p, rules, log, debug
		return session.Connect(ctx, o)
	}
}
