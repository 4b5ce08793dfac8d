package bench

import (
	"context"
	"io"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// SessionDialer connects through pkg/session with the profile's settings
// and auth provider; each client gets its own client ID. Subscribers
// advertise Receive Maximum 65535 unless --receive-maximum was set. log and debug
// (may be nil) receive -v lines and the --debug packet trace.
func SessionDialer(base *profile.Settings, p auth.Provider, rules limits.Rules, log, debug io.Writer) Dialer {
	return func(ctx context.Context, c ClientSpec) (*session.Session, error) {
		st := *base
		st.ClientID = c.ClientID
		if c.Handler != nil && !base.IsSet("receive-maximum") {
			// Subscribers take all the broker will send, so their flow
			// control is not what is measured.
			st.ReceiveMaximum = 65535
		}
		return session.Connect(ctx, session.Options{
			Settings:  &st,
			Provider:  p,
			Limits:    rules,
			Reconnect: c.Reconnect,
			// A client that cannot get back gives up (--max-reconnects).
			MaxReconnects: 10,
			Log:           log,
			Debug:         debug,
			OnConnect:     c.OnConnect,
			Handler:       c.Handler,
		})
	}
}
