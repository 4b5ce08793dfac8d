// Package whoami is `iotctl whoami`: what the endpoint will see — the
// settings in effect, the identity the auth method presents, and, unless
// --offline, the broker's CONNACK.
package whoami

import (
	"context"
	"io"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/cmd/shared"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

// Options are whoami's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Now      func() time.Time

	// Offline skips every network call: STS, Cognito and the broker.
	Offline bool
}

// NewCmdWhoami returns `iotctl whoami`. runF replaces whoamiRun in flag tests.
func NewCmdWhoami(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "whoami [--offline]",
		Short: "Show the identity and settings the endpoint will see",
		Long: `Show what the endpoint will see when iotctl connects with the current
settings, in three sections:

  Profile   the selected profile and every setting given by flag, IOTCTL_*
            variable or profile, with its source (secrets shown as ****;
            'iotctl profile show' lists the defaults too)
  Identity  the auth method (given by --auth or inferred) and who it presents:
            mtls/pkcs11/pkcs12/winstore: the certificate's subject, issuer,
              SANs, serial, validity and AWS IoT certificate ID (SHA-256 of
              the DER); pkcs11: the module, slot, token and key
            sigv4: the access key ID (masked) and, unless --offline, the
              account, ARN and user ID from STS GetCallerIdentity
              (--sts-endpoint overrides STS's regional endpoint)
            cognito: the identity ID, login providers (never tokens) and,
              unless --offline, the credentials' expiry
            custom: the authorizer and the CONNECT username with the token
              value and signature shown as ****
  Broker    unless --offline: one connection, the CONNACK's capabilities
            (assigned client ID, session present, server keepalive, receive
            maximum, maximum QoS, retain, maximum packet size, topic alias
            maximum, wildcard, shared and subscription-identifier support,
            reason string, response information) and the connect latency;
            then DISCONNECT

Warnings (a certificate expiring within 30 days, --insecure, STS failing)
are listed at the end and, in text mode, also printed on stderr.

Exit status: 0 when the identity could be built and, unless --offline, the
broker accepted the connection; 2 when the auth method cannot be built from
the settings (bad or missing files, no credentials, an expired or not yet
valid certificate: its details are still shown); 3 could not connect; 4
refused by the broker (or by Cognito). The offline part is printed first in
every case; with -o json one document is printed, with "error" set on failure.`,
		Example: `  iotctl whoami
  iotctl whoami --offline -o json
  iotctl --profile dev whoami
  iotctl whoami --auth sigv4 --endpoint a1b2-ats.iot.us-east-1.amazonaws.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return whoamiRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Offline, "offline", false, "make no network call: no STS, Cognito or broker connection")
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

func whoamiRun(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	stderr := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	r := &state{opts: opts, st: st, stderr: stderr, text: st.Output != "json", now: opts.Now()}
	r.rep = newReport(st)
	err = r.describe(ctx)
	if err == nil && !opts.Offline {
		err = r.connect(ctx)
	}
	err = st.Attribute(cmdutil.Interrupted(ctx, err))
	if err != nil {
		r.rep.Error = err.Error()
	}
	if perr := r.finish(); err == nil {
		err = perr
	}
	return err
}

// state is one whoami run's state.
type state struct {
	opts   *Options
	st     *profile.Settings
	stderr io.Writer
	text   bool
	now    time.Time
	rep    *report

	provider  auth.Provider
	printed   bool // text: Profile and Identity are out
	attempted bool // a connection was tried
}

// warn records a warning; in text mode it goes to stderr at once too.
func (r *state) warn(msg string) {
	r.rep.Warnings = append(r.rep.Warnings, msg)
	if r.text {
		io.WriteString(r.stderr, "iotctl: warning: "+msg+"\n")
	}
}

// describe is the offline part (and STS / Cognito unless --offline).
func (r *state) describe(ctx context.Context) error {
	st := r.st
	method, inferred, err := auth.Method(st)
	if err != nil {
		return err
	}
	r.rep.authInferred = inferred
	r.rep.AuthMethod = method
	p, err := cmdutil.NewProvider(st, r.warn)
	if err != nil {
		// An expired certificate is exactly what whoami should show.
		if c, src, ok, ierr := auth.InspectCertificate(st); ierr == nil && ok {
			r.rep.Identity = &identity{}
			r.rep.Identity.addCertificate(c, src, r.now, r.warn)
		}
		return err
	}
	r.provider = p
	id, err := auth.Describe(ctx, p, auth.DescribeOptions{Network: !r.opts.Offline})
	if id != nil {
		r.rep.Identity = fromIdentity(id, r.now, r.warn)
		d := &auth.Dial{Transport: id.Transport, Port: id.Port}
		if target, terr := shared.Target(st, d); terr == nil {
			r.rep.Endpoint = target
		}
		choice, perr := session.ProxyFor(st, d)
		if perr != nil {
			return perr
		}
		r.rep.Proxy = newProxyReport(choice)
	}
	if err != nil {
		return err
	}
	if ci, ok := p.(auth.CallerIdentifier); ok && !r.opts.Offline {
		sctx, cancel := withTimeout(ctx, st.ConnectTimeout)
		defer cancel()
		caller, err := ci.CallerIdentity(sctx, st.STSEndpoint)
		if err != nil {
			r.warn(err.Error())
		} else {
			r.rep.AWS = &awsCaller{Account: caller.Account, ARN: caller.ARN, UserID: caller.UserID}
		}
	}
	return nil
}

// connect is the online part: one connection, its CONNACK, DISCONNECT.
func (r *state) connect(ctx context.Context) error {
	if r.text {
		if err := r.printOffline(); err != nil {
			return err
		}
	}
	conn, err := connect.New(r.st, connect.Options{Stderr: r.stderr, Warn: r.warn, Provider: r.provider})
	if err != nil {
		return err
	}
	r.attempted = true
	c, err := shared.Connect(ctx, conn)
	if err != nil {
		return err
	}
	r.rep.Connack = c
	r.rep.TLS = c.TLS
	ms := c.LatencyMS()
	r.rep.ConnectLatencyMS = &ms
	return nil
}

// finish prints what is left and releases the provider.
func (r *state) finish() error {
	if cl, ok := r.provider.(io.Closer); ok {
		defer cl.Close()
	}
	if !r.text {
		return cmdutil.WriteJSON(r.opts.IO.Out, r.rep)
	}
	if err := r.printOffline(); err != nil {
		return err
	}
	return r.printRest()
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
