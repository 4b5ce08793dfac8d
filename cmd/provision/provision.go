// Package provision is `iotctl provision`: fleet provisioning by claim.
// Connected with the claim certificate, it asks AWS IoT Core (or the
// emulator of `iotctl broker --iot`) for a certificate, registers the thing
// with a provisioning template, and writes the new identity's files and,
// when asked, its profile.
package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/iotsvc"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/spf13/cobra"
)

// closeTimeout bounds the DISCONNECT after the requests.
const closeTimeout = 5 * time.Second

// Options are provision's flags and dependencies.
type Options struct {
	IO       *cmdutil.IOStreams
	Settings func() (*profile.Settings, error)
	Store    func() *profilestore.Store
	Warn     func(string)

	Template    string
	Params      []string
	CSR         string
	CreateKey   bool
	Out         string
	SaveProfile string
	Force       bool
	Timeout     time.Duration
}

// NewCmdProvision returns `iotctl provision`; runF replaces provisionRun in
// flag tests.
func NewCmdProvision(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Store: f.Store, Warn: f.Warn}
	cmd := &cobra.Command{
		Use:   "provision --template NAME --out DIR [--param KEY=VALUE]... [--csr FILE | --create-key] [--save-profile NAME]",
		Short: "Provision a device by claim: get its certificate and register its thing",
		Long: `Fleet provisioning by claim: connected with the claim certificate (the
usual --cert, --key, --endpoint, --ca-file or a profile), ask AWS IoT for the
device's own certificate, then register the thing with the provisioning
template --template and its parameters (--param, repeatable):

  default        CreateKeysAndCertificate: AWS IoT makes the key and the
                 certificate and sends both
  --create-key   an ECDSA P-256 key is made here and only its CSR is sent
                 (CreateCertificateFromCsr): the key never leaves the device
  --csr FILE     CreateCertificateFromCsr with your CSR; your key stays
                 where it is and no key file is written

then RegisterThing with the certificate ownership token. The requests use
the topics $aws/certificates/create/json (or create-from-csr/json) and
$aws/provisioning-templates/NAME/provision/json, with their /accepted and
/rejected replies: 'iotctl policy gen --provisioning --template NAME' writes
the claim certificate's policy for exactly these.

The certificate and key are written to DIR/certificate.pem.crt and
DIR/private.pem.key, mode 0600, atomically; DIR is created (0700) when
missing. An existing file, or profile, is never replaced without --force, and
that is checked before connecting. The thing name and certificate ID go to
stdout (-o json: one document with the files and the template's
deviceConfiguration).

--save-profile NAME saves a profile for the new identity: the connection
settings of this run (endpoint, port, CA, ALPN, proxy, session and limits
settings, from flags, IOTCTL_* variables or the claim's profile) without the
claim identity, plus auth mtls, the new certificate and key, and the thing
name as client ID and thing-name. 'iotctl --profile NAME whoami' then shows
the new thing.

Exit status: 0 provisioned; 2 bad flags, files or profile name; 3 could
not connect or the connection was lost; 4 refused: by the broker, or a
request rejected by the service (its statusCode, errorCode and errorMessage
are shown); 5 no answer within --timeout; 7 a file could not be written.`,
		Example: `  # the claim certificate's profile, then the device's own identity
  iotctl --profile claim provision --template FleetTemplate \
    --param SerialNumber=0042 --create-key --out ./device --save-profile dev1
  iotctl --profile dev1 whoami

  # with the claim's files on the command line, the key made by AWS IoT
  iotctl provision --endpoint a1b2-ats.iot.us-east-1.amazonaws.com \
    --cert claim.pem.crt --key claim.pem.key --template FleetTemplate --out ./device

  # your own key and CSR
  openssl req -new -key device.key -subj /CN=device -out device.csr
  iotctl --profile claim provision --template FleetTemplate --csr device.csr --out ./device -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return provisionRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Template, "template", "", "fleet provisioning template name (required)")
	cmdutil.StringArrayVar(fl, &opts.Params, "param", "template parameter KEY=VALUE (repeatable)")
	fl.StringVar(&opts.CSR, "csr", "", "send this PEM certificate signing request (CreateCertificateFromCsr); no key file is written")
	fl.BoolVar(&opts.CreateKey, "create-key", false, "make an ECDSA P-256 key here and send only its CSR")
	fl.StringVar(&opts.Out, "out", "", "folder for certificate.pem.crt and private.pem.key (required)")
	fl.StringVar(&opts.SaveProfile, "save-profile", "", "save a profile of this name for the new identity")
	fl.BoolVar(&opts.Force, "force", false, "replace existing files and profile")
	cmdutil.DurationVar(fl, &opts.Timeout, "timeout", 30*time.Second, "how long to wait for each answer of the service")
	_ = cmd.MarkFlagDirname("out")
	_ = cmd.MarkFlagFilename("csr", "csr", "pem")
	_ = cmd.RegisterFlagCompletionFunc("template", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("param", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("save-profile", cobra.NoFileCompletions)
	opts.Settings = f.ConnectionSettings(cmd)
	return cmd
}

// result is what provision prints.
type result struct {
	ThingName           string         `json:"thing_name"`
	CertificateID       string         `json:"certificate_id"`
	CertificateFile     string         `json:"certificate_file"`
	KeyFile             string         `json:"key_file,omitempty"`
	Key                 string         `json:"key"` // service, created, csr
	Profile             string         `json:"profile,omitempty"`
	ProfileFile         string         `json:"profile_file,omitempty"`
	DeviceConfiguration map[string]any `json:"device_configuration"`
}

func provisionRun(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := opts.Settings()
	if err != nil {
		return err
	}
	p, err := opts.check()
	if err != nil {
		return err
	}
	stderr := &cmdutil.LockedWriter{W: opts.IO.ErrOut}
	conn, err := connect.New(st, connect.Options{Stderr: stderr, Warn: opts.Warn})
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := conn.Start(ctx); err != nil {
		return err
	}
	svc := iotsvc.New()
	// One connection, no reconnect: the service answers on the connection
	// that asked, so a reply is lost with it.
	sess, err := conn.Connect(ctx, session.Options{Handler: svc.Handle, Warn: opts.Warn})
	if err != nil {
		return err
	}
	svc.Bind(sess)
	res, certPEM, keyPEM, err := p.provision(ctx, opts, st, sess, svc, stderr)
	cctx, cancel := shutdown.Context(ctx, closeTimeout, shutdown.Budget)
	_ = sess.Close(cctx, 0x00)
	cancel()
	if err != nil {
		return cmdutil.Interrupted(ctx, err)
	}
	if err := p.writeFiles(certPEM, keyPEM); err != nil {
		return fmt.Errorf("thing %s was provisioned with certificate %s, but its files were not all written: %w", esc.String(res.ThingName), esc.String(res.CertificateID), err)
	}
	res.CertificateFile, res.KeyFile = p.certFile, p.keyFile
	if opts.SaveProfile != "" {
		values, err := profileValues(st, res.ThingName, p.certFile, p.keyFile)
		if err == nil {
			err = saveProfile(opts.Store(), opts.SaveProfile, opts.Force, values)
		}
		if err != nil {
			return err
		}
		res.Profile, res.ProfileFile = opts.SaveProfile, opts.Store().Path(opts.SaveProfile)
		if p.keyFile == "" {
			opts.Warn(fmt.Sprintf("profile %s has no key: set your CSR's key with 'iotctl profile set %s key=FILE'", opts.SaveProfile, opts.SaveProfile))
		}
	}
	out := cmdutil.Output{Format: st.Output}
	return out.Print(opts.IO.Out, res, func(w io.Writer) error { return res.text(w, opts.IO.ErrOut) })
}

// provision makes the two requests; it returns what to write.
func (p *plan) provision(ctx context.Context, opts *Options, st *profile.Settings, sess *session.Session, svc requester, stderr io.Writer) (*result, []byte, []byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-sess.Done():
			cancel(errConnectionLost)
		case <-ctx.Done():
		}
	}()
	request := func(f func(context.Context) error) error {
		rctx, rcancel := context.WithTimeout(ctx, opts.Timeout)
		defer rcancel()
		err := f(rctx)
		if err != nil && context.Cause(ctx) == errConnectionLost {
			why := "the connection ended"
			if serr := sess.Err(); serr != nil {
				why = serr.Error()
			}
			return errs.Connectf("provision: connection lost before the answer came: %s: run it again (a new certificate is issued)", why)
		}
		return err
	}

	res := &result{Key: "service"}
	op := "CreateKeysAndCertificate"
	switch {
	case p.key != nil:
		res.Key, op = "created", "CreateCertificateFromCsr"
	case p.csrPEM != nil:
		res.Key, op = "csr", "CreateCertificateFromCsr"
	}
	var got *issued
	err := request(func(ctx context.Context) (err error) {
		got, err = createCertificate(ctx, svc, p.csrPEM)
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkIssued(op, got, p.key, p.csrPub); err != nil {
		return nil, nil, nil, err
	}
	if st.Verbose {
		fmt.Fprintf(stderr, "%s: certificate %s issued\n", op, esc.String(got.CertificateID))
	}
	var reg *registered
	err = request(func(ctx context.Context) (err error) {
		reg, err = registerThing(ctx, svc, p.template, got.OwnershipToken, p.params)
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if st.Verbose {
		fmt.Fprintf(stderr, "RegisterThing: thing %s registered with template %s\n", esc.String(reg.ThingName), p.template)
	}
	res.ThingName, res.CertificateID, res.DeviceConfiguration = reg.ThingName, got.CertificateID, reg.DeviceConfiguration
	if res.DeviceConfiguration == nil {
		res.DeviceConfiguration = map[string]any{}
	}
	keyPEM := p.keyPEM
	if p.key == nil && p.csrPEM == nil {
		keyPEM = []byte(got.PrivateKey)
	}
	return res, []byte(got.CertificatePEM), keyPEM, nil
}

var errConnectionLost = errors.New("connection lost")

// text prints the thing and certificate on w, the files and profile on
// errOut.
func (r *result) text(w, errOut io.Writer) error {
	if _, err := fmt.Fprintf(w, "Thing name      %s\nCertificate ID  %s\n", esc.String(r.ThingName), esc.String(r.CertificateID)); err != nil {
		return err
	}
	files := r.CertificateFile
	if r.KeyFile != "" {
		files += " and " + r.KeyFile
	}
	fmt.Fprintf(errOut, "Wrote %s (mode 0600)\n", esc.String(files))
	if r.Profile != "" {
		fmt.Fprintf(errOut, "Saved profile %s (%s): use it with 'iotctl --profile %s …'\n", r.Profile, esc.String(r.ProfileFile), r.Profile)
	}
	return nil
}
