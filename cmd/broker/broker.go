// Package broker is `iotctl broker`: the embedded MQTT broker as a command.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/shutdown"
	embedded "github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// Options are the command's flags and what it needs to run.
type Options struct {
	IO *cmdutil.IOStreams

	Listen    string
	TLSListen string
	TLSCert   string
	TLSKey    string
	ClientCA  string
	WSListen  string
	WSSListen string
	Verbose   bool   // the root's -v/--verbose
	Output    string // the root's -o/--output

	// Limits; zero keeps the broker's default (or --iot's).
	MaxPacketSize     uint32
	MaxConnectSize    uint32
	MaxQueuedMessages int
}

// HelpTopic is 'iotctl help embedded-broker': what broker --help leaves out.
const HelpTopic = `iotctl broker: the embedded broker in detail.

Run an MQTT broker on this machine until interrupted (Ctrl-C, SIGTERM).

It listens for plain MQTT on 127.0.0.1:1883 unless --listen says otherwise
(--listen "" turns it off); --tls-listen, --ws-listen and --wss-listen add
MQTT over TLS, websockets (path /mqtt or /) and websockets over TLS. Port 0
picks a free port. Each bound listener is printed on stdout, one line each,
in the order mqtt, mqtts, ws, wss:

  listening mqtt://127.0.0.1:1883

With -o json, one JSON object per line instead:

  {"scheme":"mqtt","url":"mqtt://127.0.0.1:1883","address":"127.0.0.1:1883"}

Without --tls-cert and --tls-key, the TLS listeners use a certificate for
localhost, 127.0.0.1 and ::1 signed by a CA made once in
$IOTCTL_HOME/broker (default ~/.iotctl/broker) and reused; its path is
printed on stderr: clients trust it with --ca-file. With --client-ca, the
TLS listeners require client certificates signed by that CA.

Every client may connect and use every topic: this broker is for
development and tests. Logs go to stderr; -v logs each connection.

It speaks MQTT 5 and 3.1.1. Limits: a CONNECT may be at most
--max-connect-size bytes (read before the client is authenticated), any
later packet at most --max-packet-size (advertised in CONNACK; under --iot
146 KiB as IoT Core); a client's session keeps at most
--max-queued-messages undelivered messages: past that, QoS 0 messages for
it are dropped, and a connected client that does not keep up with QoS 1/2
is disconnected with 0x97 (quota exceeded), so a slow or stuck client
never holds up the others.

On SIGINT or SIGTERM it says on stderr that it is stopping, closes every
connection and exits 0; when it has not stopped within 2 s of the signal
(a client or the broker itself stuck) it exits 1 saying so. A second signal
exits at once with 130.` + iotLong + `

Examples:
  # plain MQTT on 127.0.0.1:1883
  iotctl broker

  # every listener, on ports the system picks
  iotctl broker --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --ws-listen 127.0.0.1:0 --wss-listen 127.0.0.1:0

  # mutual TLS on 8883 with your own certificates, logging connections
  iotctl broker -v --listen "" --tls-listen 127.0.0.1:8883 --tls-cert server.pem --tls-key server-key.pem --client-ca ca.pem

  # talk to it from another terminal
  iotctl sub -t 'test/#' &
  iotctl pub -t test/topic -m hello` + iotExample + "\n"

// listenFlags names the flag of each listener, for error messages.
var listenFlags = map[string]string{
	embedded.MQTT: "--listen", embedded.MQTTS: "--tls-listen", embedded.WS: "--ws-listen", embedded.WSS: "--wss-listen",
}

// NewCmdBroker returns `iotctl broker`. runF replaces brokerRun in tests.
func NewCmdBroker(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	var settings func() (*profile.Settings, error)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded MQTT broker",
		Long: `Run an MQTT 5 and 3.1.1 broker on this machine until interrupted (Ctrl-C,
SIGTERM). It listens for plain MQTT on 127.0.0.1:1883 (--listen; "" turns it
off); --tls-listen, --ws-listen and --wss-listen add MQTT over TLS,
websockets and websockets over TLS; port 0 picks a free port. Each bound
listener is printed on stdout: "listening mqtt://127.0.0.1:1883".

Every client may use every topic: it is for development and tests; --iot
emulates AWS IoT Core instead. Logs go to stderr; -v logs each connection.
Certificates, limits, shutdown and the IoT Core emulation: 'iotctl help
embedded-broker'.`,
		Example: `  iotctl broker
  iotctl broker --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --ws-listen 127.0.0.1:0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := settings()
			if err != nil {
				return err
			}
			opts.Verbose, opts.Output = s.Verbose, s.Output
			f.SaysStopping.Store(true)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return brokerRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:1883", "address of the plain MQTT listener (\"\" for none)")
	fl.StringVar(&opts.TLSListen, "tls-listen", "", "address of the MQTT over TLS listener, e.g. 127.0.0.1:8883")
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "server certificate (PEM) of the TLS listeners (default: generated)")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "server private key (PEM) of --tls-cert")
	fl.StringVar(&opts.ClientCA, "client-ca", "", "CA certificates (PEM): TLS listeners require client certificates they signed")
	fl.StringVar(&opts.WSListen, "ws-listen", "", "address of the MQTT over websocket listener, e.g. 127.0.0.1:8080")
	fl.StringVar(&opts.WSSListen, "wss-listen", "", "address of the MQTT over secure websocket listener, e.g. 127.0.0.1:8443")
	fl.Uint32Var(&opts.MaxPacketSize, "max-packet-size", 0, "largest packet accepted after CONNECT, bytes (default 268435456 = 256 MiB; 149504 with --iot)")
	fl.Uint32Var(&opts.MaxConnectSize, "max-connect-size", 0, "largest CONNECT packet, read before authentication, bytes (default 1048576)")
	fl.IntVar(&opts.MaxQueuedMessages, "max-queued-messages", 0, "undelivered messages kept per session (default 1000000)")
	// -v and --region (with --iot) only: the broker reads no profile.
	settings = f.LocalSettings(cmd, "region")
	cmd.Flags().Lookup("region").Usage = "AWS region of the emulated ARNs and SigV4 signatures, with --iot (default us-east-1) [IOTCTL_REGION]"
	addIoTFlags(cmd, settings)
	return cmd
}

// applyLimits puts the limit flags into the broker options.
func applyLimits(opts *Options, bo *embedded.Options) error {
	if opts.MaxQueuedMessages < 0 {
		return errs.Usagef("--max-queued-messages %d: give a positive number", opts.MaxQueuedMessages)
	}
	if opts.MaxPacketSize != 0 && opts.MaxPacketSize < 64 || opts.MaxConnectSize != 0 && opts.MaxConnectSize < 64 {
		return errs.Usagef("--max-packet-size and --max-connect-size must be at least 64 bytes")
	}
	caps := embedded.DefaultCapabilities()
	if bo.Capabilities != nil {
		caps = *bo.Capabilities
	}
	if opts.MaxPacketSize > 0 {
		caps.MaximumPacketSize = opts.MaxPacketSize
	}
	if opts.MaxConnectSize > 0 {
		caps.MaximumConnectSize = opts.MaxConnectSize
	}
	if opts.MaxQueuedMessages > 0 {
		caps.MaxQueuedMessages = opts.MaxQueuedMessages
	}
	bo.Capabilities = &caps
	return nil
}

// brokerRun serves until ctx is cancelled, then closes the listeners.
func brokerRun(ctx context.Context, opts *Options) error {
	// Log lines come from connection goroutines: one writer, one lock.
	errOut := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	bo := embedded.Options{
		Listen:    opts.Listen,
		TLSListen: opts.TLSListen,
		WSListen:  opts.WSListen,
		WSSListen: opts.WSSListen,
		TLSCert:   opts.TLSCert,
		TLSKey:    opts.TLSKey,
		ClientCA:  opts.ClientCA,
		Logger:    slog.New(slog.NewTextHandler(errOut, nil)),
		Verbose:   opts.Verbose,
	}
	if err := applyIoT(ctx, &bo); err != nil {
		return err
	}
	if err := applyLimits(opts, &bo); err != nil {
		return err
	}
	b, err := embedded.New(bo)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cmdutil.CloseEmbedded(ctx, b, errOut)
		}
	}()
	if err := b.Start(); err != nil {
		var le *embedded.ListenError
		if errors.As(err, &le) {
			return errs.Usagef("%w: choose a free address, e.g. %s 127.0.0.1:0", le, listenFlags[le.Scheme])
		}
		return fmt.Errorf("start the broker: %w", err)
	}
	if err := printListeners(opts, b.Listeners()); err != nil {
		return err
	}
	if ca := b.CAFile(); ca != "" {
		fmt.Fprintf(errOut, "iotctl broker: CA certificate: %s (use --ca-file %s)\n", ca, ca)
	}
	<-ctx.Done()
	closed = true
	return stop(ctx, b, errOut)
}

// listener is one bound listener as -o json prints it, one per line.
type listener struct {
	Scheme  string `json:"scheme"`
	URL     string `json:"url"`
	Address string `json:"address"`
}

// printListeners prints each bound listener, one line each: text
// "listening URL" or, with -o json, a JSON object per line.
func printListeners(opts *Options, ls []embedded.Listener) error {
	out := cmdutil.Output{Format: opts.Output}
	stream := out.Stream(opts.IO.Out)
	for _, l := range ls {
		var err error
		if out.JSON() {
			err = stream.Write(listener{Scheme: l.Scheme, URL: l.URL(), Address: l.Addr})
		} else {
			_, err = fmt.Fprintf(opts.IO.Out, "listening %s\n", l.URL())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stop closes the broker after the signal: exit 0 only when it stopped
// cleanly within shutdown.Budget of the signal, else exit 1 with why.
func stop(ctx context.Context, b io.Closer, errOut io.Writer) error {
	name := "the signal"
	var sig *shutdown.Signal
	if errors.As(context.Cause(ctx), &sig) {
		name = shutdown.Name(sig.Sig)
	}
	fmt.Fprintf(errOut, "iotctl broker: %s: stopping (send it again to exit at once)\n", name)
	cctx, cancel := shutdown.Context(ctx, 0, shutdown.Budget)
	defer cancel()
	ok, err := shutdown.Wait(cctx, b.Close)
	switch {
	case !ok:
		return fmt.Errorf("broker: did not stop within %s of %s: exiting with connections still open", shutdown.Budget, name)
	case err != nil:
		return fmt.Errorf("broker: stop: %w", err)
	}
	fmt.Fprintf(errOut, "iotctl broker: stopped\n")
	return nil
}
