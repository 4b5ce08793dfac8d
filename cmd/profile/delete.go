package profile

import (
	"fmt"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// DeleteOptions are the inputs of `iotctl profile delete`.
type DeleteOptions struct {
	IO     *cmdutil.IOStreams
	Store  *profilestore.Store
	Output string
	Name   string
}

// NewCmdDelete returns `iotctl profile delete NAME`.
func NewCmdDelete(f *cmdutil.Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a profile (and the current selection, if it was current)",
		Example: "  iotctl profile delete old-dev",
		Args:    nameArgs(false),

		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runProfileCmd(f, cmd, &opts.Store, &opts.Output, opts, runF, deleteRun)
		},
	}
}

func deleteRun(opts *DeleteOptions) error {
	current, err := opts.Store.Current()
	if err != nil {
		return err
	}
	if err := opts.Store.Delete(opts.Name); err != nil {
		return usage(err)
	}
	wasCurrent := current == opts.Name
	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			Deleted    string `json:"deleted"`
			WasCurrent bool   `json:"was_current"`
		}{opts.Name, wasCurrent})
	}
	msg := "Deleted profile " + opts.Name
	if wasCurrent {
		msg += "; it was current, so no profile is selected now"
	}
	_, err = fmt.Fprintln(opts.IO.ErrOut, msg)
	return err
}
