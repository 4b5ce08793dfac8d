// Package profile is `iotctl profile`: list, show, set, unset, use, delete
// and validate the named profiles of ~/.iotctl.
package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// NewCmdProfile returns `iotctl profile` with its subcommands.
func NewCmdProfile(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile <command>",
		Short: "Manage named connection profiles",
		Long: `A profile is a named set of connection settings in ~/.iotctl/profiles/<name>.yaml
(or $IOTCTL_HOME/profiles). Select one with --profile NAME, IOTCTL_PROFILE, or
'iotctl profile use NAME'. Flags and IOTCTL_* variables override its values.

See 'iotctl help profiles' for the file format and an example per auth method.`,
		Example: `  iotctl profile set dev endpoint=a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com \
      cert=~/certs/thing.cert.pem key=~/certs/thing.private.key ca-file=~/certs/AmazonRootCA1.pem
  iotctl profile use dev
  iotctl profile show
  iotctl profile validate`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return errs.Usagef("unknown command %q for %q: run '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		NewCmdList(f, nil),
		NewCmdShow(f, nil),
		NewCmdSet(f, nil),
		NewCmdUnset(f, nil),
		NewCmdUse(f, nil),
		NewCmdDelete(f, nil),
		NewCmdValidate(f, nil),
	)
	return cmd
}

// outputFormat resolves -o for the commands that manage profiles, from
// flags and IOTCTL_OUTPUT alone: they must work while the selected profile
// is broken (that is how it gets fixed).
func outputFormat(f *cmdutil.Factory, cmd *cobra.Command) (string, error) {
	s, err := f.Global(cmd)
	if err != nil {
		return "", usage(err)
	}
	return s.Output, nil
}

// runProfileCmd is the RunE body the profile subcommands share: it fills
// in the store and the output format, then runs runF when a test gave one,
// else run.
func runProfileCmd[O any](f *cmdutil.Factory, cmd *cobra.Command, store **profilestore.Store, output *string, opts O, runF, run func(O) error) error {
	*store = f.Store()
	out, err := outputFormat(f, cmd)
	if err != nil {
		return err
	}
	*output = out
	if runF != nil {
		return runF(opts)
	}
	return run(opts)
}

func isProfileError(err error) bool {
	return errors.Is(err, profile.ErrNotFound) || errors.Is(err, profile.ErrMalformed) ||
		errors.Is(err, profile.ErrUnknownKey) || errors.Is(err, profile.ErrInvalidName)
}

// usage marks the store's sentinel errors (bad name, key, value, file) as
// usage errors; anything else (I/O) keeps its kind.
func usage(err error) error {
	if err == nil || errs.KindOf(err) != errs.Unexpected {
		return err
	}
	if isProfileError(err) || errors.Is(err, profile.ErrInvalidValue) {
		return errs.New(errs.Usage, err)
	}
	return err
}

// nameArgs accepts exactly one profile NAME (or at most one when optional),
// with a message that says what to type.
func nameArgs(optional bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0 && !optional:
			return errs.Usagef("%s: give the profile name: %s", cmd.CommandPath(), cmd.UseLine())
		case len(args) > 1:
			return errs.Usagef("%s: want one profile name, got %d arguments: %s", cmd.CommandPath(), len(args), cmd.UseLine())
		}
		return nil
	}
}

// table writes rows as columns two spaces apart, with no trailing blanks.
func table(w io.Writer, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " \n")); err != nil {
			return err
		}
	}
	return nil
}

func printJSON(w io.Writer, v any) error { return cmdutil.WriteJSON(w, v) }

// jsonValue is a setting's value as -o json prints it: whole numbers as
// numbers (null when unset), booleans as booleans, durations as strings in
// the flag's syntax as given ("60s"; bare seconds get their unit), lists as the comma-separated text; secrets
// that are set as "****".
func jsonValue(e profile.Entry) any {
	v := e.Shown()
	d, ok := profile.Lookup(e.Name)
	if !ok || e.Secret && e.Value != "" {
		return v
	}
	switch d.Type {
	case profile.Int:
		if v == "" {
			return nil
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	case profile.Bool:
		if v == "" {
			return false
		}
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	case profile.Duration:
		if _, err := time.ParseDuration(v); err == nil {
			return v
		}
		if t, err := profile.ParseDuration(v); err == nil { // bare seconds: "90" → "90s"
			return profile.FormatDuration(t)
		}
	}
	return v
}

// completeNames completes saved profile names for the first argument.
func completeNames(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, _ := f.Store().List()
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeAssignments completes NAME, then key= and, after the =, enum values.
func completeAssignments(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return completeNames(f)(cmd, args, toComplete)
		}
		if key, _, ok := strings.Cut(toComplete, "="); ok {
			d, err := profile.LookupKey(key)
			if err != nil || len(d.Enum) == 0 {
				if d.FileValue {
					return nil, cobra.ShellCompDirectiveDefault
				}
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, v := range d.Enum {
				out = append(out, key+"="+v)
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, d := range profile.Defs {
			if !d.Hidden {
				out = append(out, cobra.CompletionWithDesc(d.Name+"=", d.Usage))
			}
		}
		return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSetKeys completes NAME, then the keys that profile holds.
func completeSetKeys(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return completeNames(f)(cmd, args, toComplete)
		}
		values, err := f.Store().Load(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, d := range profile.Defs {
			if _, ok := values[d.Name]; ok && !slices.Contains(args[1:], d.Name) {
				out = append(out, d.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// shown is a value as show and set may print it: secrets redacted, control
// characters quoted so one setting stays one line.
func shown(e profile.Entry) string {
	v := e.Shown()
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q", v)
	}
	return v
}
