package profile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// SetOptions are the inputs of `iotctl profile set`.
type SetOptions struct {
	IO     *cmdutil.IOStreams
	Store  *profilestore.Store
	Output string
	Name   string
	// Args are the key=value arguments as typed; a bare secret key is read
	// from stdin.
	Args []string
}

// NewCmdSet returns `iotctl profile set NAME key=value…`.
func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	opts := &SetOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "set NAME key=value...",
		Short: "Set values in a profile, creating it if missing",
		Long: `Set settings in a profile, creating the profile if it does not exist. Keys are
the setting names of 'iotctl help environment' (ca_file is ca-file); values
are checked. Other keys and comments in the file are kept.

A secret (password, key-password, pkcs11-pin, pkcs12-password, token-value, …)
given as a bare key, with no =value, is read from the terminal without echo, or
from stdin when it is not a terminal, so it stays out of shell history. Secrets
are stored in the profile file (mode 0600) and never printed; IOTCTL_*
variables are the alternative that keeps them out of files.`,
		Example: `  iotctl profile set dev endpoint=a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com auth=mtls
  iotctl profile set dev cert=~/certs/thing.cert.pem key=~/certs/thing.private.key
  iotctl profile set local endpoint=localhost port=1883 username=alice password
  printf '%s' "$PASSWORD" | iotctl profile set local password`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return errs.Usagef("%s: give the profile name and at least one key=value: %s", cmd.CommandPath(), cmd.UseLine())
			}
			return nil
		},
		ValidArgsFunction: completeAssignments(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Args = args[0], args[1:]
			return runProfileCmd(f, cmd, &opts.Store, &opts.Output, opts, runF, setRun)
		},
	}
}

type setEntry struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

func setRun(opts *SetOptions) error {
	if err := profilestore.ValidateName(opts.Name); err != nil {
		return usage(err)
	}
	values := make(map[string]string, len(opts.Args))
	var order []profile.Def
	var fromStdin []profile.Def
	for _, arg := range opts.Args {
		key, value, hasValue := strings.Cut(arg, "=")
		d, err := profile.LookupKey(key)
		if err != nil {
			return usage(err)
		}
		if !hasValue {
			if !d.Secret {
				return errs.Usagef("%q: want key=value (only secrets may be given bare, to be read from stdin)", arg)
			}
			fromStdin = append(fromStdin, d)
		} else if err := profile.ValidateValue(d.Name, value); err != nil {
			return usage(err)
		}
		if _, seen := values[d.Name]; !seen {
			order = append(order, d)
		}
		values[d.Name] = value
	}
	if len(fromStdin) > 1 && !opts.IO.StdinTTY {
		return errs.Usagef("only one secret can be read from stdin at a time; got %d", len(fromStdin))
	}
	for _, d := range fromStdin {
		v, err := readSecret(opts.IO, fmt.Sprintf("%s for profile %s: ", d.Name, opts.Name))
		if err != nil {
			return fmt.Errorf("read %s: %w", d.Name, err)
		}
		if err := profile.ValidateValue(d.Name, v); err != nil {
			return usage(err)
		}
		values[d.Name] = v
	}

	created, err := opts.Store.Set(opts.Name, values)
	if err != nil {
		return usage(err)
	}
	var set []setEntry
	parts := make([]string, 0, len(order))
	for _, d := range order {
		e := profile.Entry{Name: d.Name, Value: values[d.Name], Secret: d.Secret, URL: d.URL}
		set = append(set, setEntry{Name: d.Name, Value: jsonValue(e)})
		parts = append(parts, d.Name+"="+shown(e))
	}
	warnings := missingFiles(opts.Name, order, values)
	defer func() {
		for _, w := range warnings {
			fmt.Fprintf(opts.IO.ErrOut, "iotctl: warning: %s\n", w)
		}
	}()
	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			Profile  string     `json:"profile"`
			Created  bool       `json:"created"`
			Path     string     `json:"path"`
			Set      []setEntry `json:"set"`
			Warnings []string   `json:"warnings,omitempty"`
		}{opts.Name, created, opts.Store.Path(opts.Name), set, warnings})
	}
	verb := "Updated"
	if created {
		verb = "Created"
	}
	if _, err := fmt.Fprintf(opts.IO.ErrOut, "%s profile %s (%s): %s\n", verb, opts.Name, opts.Store.Path(opts.Name), strings.Join(parts, " ")); err != nil {
		return err
	}
	if cur, _ := opts.Store.Current(); created && cur == "" {
		_, err = fmt.Fprintf(opts.IO.ErrOut, "Use it with --profile %s, or make it the default with 'iotctl profile use %s'.\n", opts.Name, opts.Name)
	}
	return err
}

// missingFiles warns about the file settings just set (cert, key, ca-file,
// pkcs11-lib, …) that name no file: set stores them anyway (the file may
// come later), and says how to check them.
func missingFiles(name string, set []profile.Def, values map[string]string) []string {
	var out []string
	for _, d := range set {
		v := values[d.Name]
		if !d.FileValue || v == "" {
			continue
		}
		what := d.Name
		if !strings.HasSuffix(what, "-file") && !strings.HasSuffix(what, "-lib") {
			what += " file"
		}
		fi, err := os.Stat(profile.ExpandHome(v))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, fmt.Sprintf("%s %s does not exist; check with: iotctl profile validate %s", what, v, name))
		case err != nil:
			out = append(out, fmt.Sprintf("%s %s: %v; check with: iotctl profile validate %s", what, v, certfile.UnwrapPathErr(err), name))
		case fi.IsDir():
			out = append(out, fmt.Sprintf("%s %s is a folder, not a file; check with: iotctl profile validate %s", what, v, name))
		}
	}
	return out
}

// readSecret reads a line without echo on a terminal, else all of stdin
// up to the first newline.
func readSecret(ios *cmdutil.IOStreams, prompt string) (string, error) {
	if f, ok := ios.In.(*os.File); ok && ios.StdinTTY {
		fmt.Fprint(ios.ErrOut, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(ios.ErrOut)
		return string(b), err
	}
	line, err := bufio.NewReader(ios.In).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	if line == "" && err == io.EOF {
		return "", errs.Usagef("stdin is empty: pipe the secret in, or give key=value")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
