package profile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/session"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/cmd/shared"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// ValidateOptions are the inputs of `iotctl profile validate`.
type ValidateOptions struct {
	IO      *cmdutil.IOStreams
	Name    string
	Resolve func(name string) (*profile.Settings, error)
	Now     func() time.Time
	// Connect, after the file checks pass, connects once and reports the
	// CONNACK (as whoami does), then disconnects.
	Connect bool
	// Ctx bounds the connection; nil is context.Background().
	Ctx context.Context
}

// NewCmdValidate returns `iotctl profile validate [NAME]`.
func NewCmdValidate(f *cmdutil.Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IOStreams, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "validate [NAME] [--connect]",
		Short: "Check a profile's settings and the files they name",
		Long: `Check the effective settings of a profile (flags and IOTCTL_* variables
included), without connecting unless --connect: the endpoint parses, and
every file a setting names exists and holds what it should:

  cert, ca-file, proxy-ca-file  PEM certificates, valid now (warns within 30 days of expiry)
  key                           a PEM private key: PKCS#1, PKCS#8, SEC1, or encrypted
  cert+key                      the key belongs to the certificate
  pkcs12-file                   opens with pkcs12-password
  password-file, pkcs11-lib     exist
  mqtt-version                  under 3.1.1, no MQTT 5-only setting (FAIL only)

With --connect, when those checks pass, it also connects once with the
profile's auth method and reports the CONNACK: reason code, client ID and
assigned client ID, receive maximum, maximum QoS and the connect latency;
then it disconnects. 'iotctl whoami' shows every CONNACK capability.

One line per check: ok, WARN or FAIL. Any FAIL of the file checks exits with
status 2; a failed connection exits with its own status: 2 when the auth
method cannot be built, 3 could not connect, 4 refused by the broker.`,
		Example: `  iotctl profile validate
  iotctl profile validate dev -o json
  iotctl profile validate dev --connect`,
		Args:              nameArgs(true),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			opts.Resolve = resolver(f, cmd)
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Connect, "connect", false, "also connect once and report the CONNACK")
	f.AddConnectionFlags(cmd, "thing-name")
	return cmd
}

func validateRun(opts *ValidateOptions) error {
	s, err := opts.Resolve(opts.Name)
	if err != nil {
		return usage(err)
	}
	checks := certfile.CheckFiles(s, opts.Now())
	if err := session.Check311(s); err != nil {
		// An MQTT 5-only setting in a 3.1.1 profile: every command would
		// refuse it before connecting.
		checks = append(checks, certfile.Check{Setting: "mqtt-version", Status: certfile.CheckFail, Detail: err.Error()})
	}
	failed := 0
	for _, c := range checks {
		if c.Status == certfile.CheckFail {
			failed++
		}
	}
	var connack *shared.Connack
	var connErr error
	if opts.Connect && failed == 0 {
		var c certfile.Check
		connack, c, connErr = connectCheck(opts, s)
		checks = append(checks, c)
	}
	name := s.Profile
	if s.Output == "json" {
		if err := printJSON(opts.IO.Out, struct {
			Profile string           `json:"profile"`
			OK      bool             `json:"ok"`
			Checks  []certfile.Check `json:"checks"`
			Connack *shared.Connack  `json:"connack,omitempty"`
			// LatencyMS is the connect latency, with connack.
			LatencyMS *float64 `json:"connect_latency_ms,omitempty"`
		}{name, failed == 0 && connErr == nil, checks, connack, latencyMS(connack)}); err != nil {
			return err
		}
	} else {
		var rows [][]string
		for _, c := range checks {
			detail := c.Detail
			if c.File != "" {
				detail = c.File + ": " + detail
			}
			status := string(c.Status)
			if c.Status != certfile.CheckOK {
				status = strings.ToUpper(status)
			}
			rows = append(rows, []string{fmt.Sprintf("%-4s", status), c.Setting, detail})
		}
		if err := table(opts.IO.Out, rows); err != nil {
			return err
		}
	}
	if failed > 0 {
		if name == "" {
			name = "(none)"
		}
		return errs.Usagef("profile %s: %d of %d checks failed", name, failed, len(checks))
	}
	return connErr
}

// connectCheck connects once as whoami does and turns the outcome into
// the "connect" check; the error keeps the session's kind (exit 2, 3 or 4).
func connectCheck(opts *ValidateOptions, s *profile.Settings) (*shared.Connack, certfile.Check, error) {
	check := certfile.Check{Setting: "connect", Status: certfile.CheckFail}
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := auth.New(s)
	if err != nil {
		check.Detail = err.Error()
		return nil, check, err
	}
	if cl, ok := p.(interface{ Close() error }); ok {
		defer cl.Close()
	}
	target, err := shared.Target(s, dialOf(ctx, p))
	if err != nil {
		check.Detail = err.Error()
		return nil, check, err
	}
	conn, err := connect.New(s, connect.Options{Stderr: &cmdutil.LockedWriter{W: opts.IO.ErrOut}, Provider: p})
	if err != nil {
		check.Detail = err.Error()
		return nil, check, err
	}
	c, err := shared.Connect(ctx, conn)
	if err != nil {
		err = cmdutil.Interrupted(ctx, err)
		check.Detail = err.Error()
		return nil, check, err
	}
	assigned := ""
	if c.AssignedClientID != "" {
		assigned = fmt.Sprintf(" (assigned by the broker: %s)", esc.String(c.AssignedClientID))
	}
	check.Status = certfile.CheckOK
	check.Detail = fmt.Sprintf("%s: CONNACK %s (0x%02X) in %s: client ID %s%s, receive maximum %d, maximum QoS %d",
		target, c.Reason, c.ReasonCode, shared.FormatLatency(c.Latency), c.ClientID, assigned, c.ReceiveMaximum, c.MaximumQoS)
	if c.MQTTVersion == "3.1.1" {
		check.Detail = fmt.Sprintf("%s: MQTT 3.1.1 CONNACK accepted in %s: client ID %s", target, shared.FormatLatency(c.Latency), c.ClientID)
	}
	return c, check, nil
}

// dialOf is the provider's transport and default port, for the target
// shown; the identity carries them without preparing a connection.
func dialOf(ctx context.Context, p auth.Provider) *auth.Dial {
	id, err := auth.Describe(ctx, p, auth.DescribeOptions{})
	if err != nil || id == nil {
		return nil
	}
	return &auth.Dial{Transport: id.Transport, Port: id.Port}
}

func latencyMS(c *shared.Connack) *float64 {
	if c == nil {
		return nil
	}
	ms := c.LatencyMS()
	return &ms
}
