package shadow

import (
	"context"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/spf13/cobra"
)

// GetOptions are shadow get's flags and dependencies.
type GetOptions struct {
	Common
}

// NewCmdGet returns `iotctl shadow get`. runF replaces getRun in flag tests.
func NewCmdGet(f *cmdutil.Factory, runF func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{}
	cmd := &cobra.Command{
		Use:   "get [--thing T] [--name N]",
		Short: "Print a thing's shadow document",
		Long: `Print the shadow document: state (desired, reported and delta), metadata
(the time each field was last updated), version and timestamp. -o json (the
default here) prints it as the service sent it, without the client token;
-o text lists each field on a line.

A shadow that does not exist is rejected with 404 (exit 4).`,
		Example: `  iotctl shadow get --thing sensor-7
  iotctl shadow get --thing sensor-7 --name config -o text
  iotctl shadow get --thing sensor-7 | jq .state.delta`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return getRun(cmd.Context(), opts)
		},
	}
	addCommon(f, cmd, &opts.Common)
	cmdutil.DurationVarP(cmd.Flags(), &opts.Timeout, "timeout", "W", defaultTimeout, "wait this long for the answer (bare number: seconds)")
	return cmd
}

func getRun(ctx context.Context, opts *GetOptions) error {
	st, t, err := opts.resolve()
	if err != nil {
		return err
	}
	rep, err := request(ctx, &opts.Common, st, t, "get", nil)
	if err != nil {
		return err
	}
	return printDocument(opts.IO.Out, jsonOutput(st), rep.Payload, "shadow: "+t.String())
}
