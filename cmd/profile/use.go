package profile

import (
	"fmt"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// UseOptions are the inputs of `iotctl profile use`.
type UseOptions struct {
	IO     *cmdutil.IOStreams
	Store  *profilestore.Store
	Output string
	Name   string
}

// NewCmdUse returns `iotctl profile use NAME`.
func NewCmdUse(f *cmdutil.Factory, runF func(*UseOptions) error) *cobra.Command {
	opts := &UseOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "use NAME",
		Short: "Select the current profile",
		Example: `  iotctl profile use dev
  iotctl pub -t test/topic -m hello      # now connects with profile dev`,
		Long: `Select the profile used when neither --profile nor IOTCTL_PROFILE is given.
The selection is stored in ~/.iotctl/current.`,
		Args:              nameArgs(false),
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runProfileCmd(f, cmd, &opts.Store, &opts.Output, opts, runF, useRun)
		},
	}
}

func useRun(opts *UseOptions) error {
	if err := opts.Store.Use(opts.Name); err != nil {
		return usage(err)
	}
	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			Current string `json:"current"`
		}{opts.Name})
	}
	_, err := fmt.Fprintf(opts.IO.ErrOut, "Using profile %s (%s)\n", opts.Name, opts.Store.Path(opts.Name))
	return err
}
