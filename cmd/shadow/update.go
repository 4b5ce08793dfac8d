package shadow

import (
	"context"
	"fmt"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// UpdateOptions are shadow update's flags and dependencies.
type UpdateOptions struct {
	Common

	Desired      string // JSON object or null
	Reported     string // JSON object or null
	State        string // the state node (or a whole request) as JSON
	StateFile    string
	Stdin        bool // "-": the state from stdin
	ClearDesired bool
	Version      int64
	HasVersion   bool
}

// NewCmdUpdate returns `iotctl shadow update`. runF replaces updateRun in
// flag tests.
func NewCmdUpdate(f *cmdutil.Factory, runF func(context.Context, *UpdateOptions) error) *cobra.Command {
	opts := &UpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update [--thing T] [--name N] (--desired JSON | --reported JSON | --state JSON | --state-file F | -) [--version V] [--clear-desired]",
		Short: "Update a thing's shadow and print the accepted document",
		Long: `Send an update and print what the service accepted (state as sent, metadata,
version, timestamp).

The state is one of:
  --desired JSON and/or --reported JSON   an object (or null) each
  --clear-desired                         desired: null (alone or with --reported)
  --state JSON                            the state node, {"desired":…,"reported":…}
  --state-file F, or - for stdin          the same, from a file
--state and the file may also hold a whole update request or a document
from 'shadow get' ({"state":{…},…}): its state is sent. A null value removes
that key, as the service does. JSON is checked before connecting (exit 2);
the service judges the rest (a rejection exits 4 with its code: 400, 413 …).

--version V updates only a shadow at version V: a conflict exits 4 naming
code 409 and the version the shadow is at.`,
		Example: `  # the app asks for red; the device reports it
  iotctl shadow update --thing sensor-7 --desired '{"color":"red"}'
  iotctl shadow update --thing sensor-7 --reported '{"color":"red"}'

  # optimistic locking, a named shadow, a key removed
  iotctl shadow update --thing sensor-7 --name config --version 4 --reported '{"mode":null}'

  # from a file or stdin
  iotctl shadow update --thing sensor-7 --state-file state.json
  echo '{"reported":{"temp":21.5}}' | iotctl shadow update --thing sensor-7 -`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
			case len(args) == 1 && args[0] == "-":
				opts.Stdin = true
			default:
				return errs.Usagef("shadow update: unexpected argument %q: the only argument is - (the state from stdin)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.HasVersion = cmd.Flags().Changed("version")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return updateRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Desired, "desired", "", "desired state, a `JSON` object (null: clear it)")
	fl.StringVar(&opts.Reported, "reported", "", "reported state, a `JSON` object (null: clear it)")
	fl.StringVar(&opts.State, "state", "", "the state node as `JSON`: {\"desired\":{…},\"reported\":{…}}")
	fl.StringVar(&opts.StateFile, "state-file", "", "`FILE` holding the state node as JSON")
	fl.BoolVar(&opts.ClearDesired, "clear-desired", false, "send desired: null (removes every desired key, and so the delta)")
	fl.Int64Var(&opts.Version, "version", 0, "update only if the shadow is at `VERSION` (else 409, exit 4)")
	for _, name := range []string{"desired", "reported", "state"} {
		_ = cmd.RegisterFlagCompletionFunc(name, cobra.NoFileCompletions)
	}
	addCommon(f, cmd, &opts.Common)
	cmdutil.DurationVarP(fl, &opts.Timeout, "timeout", "W", defaultTimeout, "wait this long for the answer (bare number: seconds)")
	return cmd
}

func updateRun(ctx context.Context, opts *UpdateOptions) error {
	if opts.HasVersion && opts.Version < 0 {
		return errs.Usagef("--version %d: a shadow version is 0 or more", opts.Version)
	}
	st, t, err := opts.resolve()
	if err != nil {
		return err
	}
	state, err := opts.state(ctx)
	if err != nil {
		return err
	}
	body := map[string]any{"state": state}
	if opts.HasVersion {
		body["version"] = opts.Version
	}
	rep, err := request(ctx, &opts.Common, st, t, "update", body)
	if err != nil {
		return err
	}
	return printDocument(opts.IO.Out, jsonOutput(st), rep.Payload, fmt.Sprintf("updated %s", t))
}
