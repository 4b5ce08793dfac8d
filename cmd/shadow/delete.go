package shadow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// DeleteOptions are shadow delete's flags and dependencies.
type DeleteOptions struct {
	Common

	Version    int64
	HasVersion bool
}

// NewCmdDelete returns `iotctl shadow delete`. runF replaces deleteRun in
// flag tests.
func NewCmdDelete(f *cmdutil.Factory, runF func(context.Context, *DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete [--thing T] [--name N] [--version V]",
		Short: "Delete a thing's shadow",
		Long: `Delete the shadow and print the service's answer (the deleted version and
the time). The next update starts the shadow again, its version continuing
from the deleted one.

--version V deletes only a shadow at version V: a conflict exits 4 naming
code 409 and the version the shadow is at. A shadow that does not exist is
rejected with 404 (exit 4).`,
		Example: `  iotctl shadow delete --thing sensor-7
  iotctl shadow delete --thing sensor-7 --name config --version 12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.HasVersion = cmd.Flags().Changed("version")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return deleteRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().Int64Var(&opts.Version, "version", 0, "delete only if the shadow is at `VERSION` (else 409, exit 4)")
	addCommon(f, cmd, &opts.Common)
	cmdutil.DurationVarP(cmd.Flags(), &opts.Timeout, "timeout", "W", defaultTimeout, "wait this long for the answer (bare number: seconds)")
	return cmd
}

func deleteRun(ctx context.Context, opts *DeleteOptions) error {
	if opts.HasVersion && opts.Version < 0 {
		return errs.Usagef("--version %d: a shadow version is 0 or more", opts.Version)
	}
	st, t, err := opts.resolve()
	if err != nil {
		return err
	}
	var body map[string]any
	if opts.HasVersion {
		body = map[string]any{"version": opts.Version}
	}
	rep, err := request(ctx, &opts.Common, st, t, "delete", body)
	if err != nil {
		return err
	}
	if jsonOutput(st) {
		return printDocument(opts.IO.Out, true, rep.Payload, "")
	}
	var doc document
	_ = json.Unmarshal(rep.Payload, &doc)
	msg := "deleted " + t.String()
	if doc.Version != nil {
		msg += fmt.Sprintf(" (version %d)", *doc.Version)
	}
	_, err = fmt.Fprintln(opts.IO.Out, msg)
	return err
}
