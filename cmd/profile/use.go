package profile

import (
	"fmt"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// UseOptions are the inputs of `iotctl profile use`.
type UseOptions struct {
	IO     *cmdutil.IOStreams
	Store  *profilestore.Store
	Output string
	Name   string
	// None clears the selection (--none, or - as the name).
	None bool
}

// NewCmdUse returns `iotctl profile use NAME|--none|-`.
func NewCmdUse(f *cmdutil.Factory, runF func(*UseOptions) error) *cobra.Command {
	opts := &UseOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "use NAME | --none | -",
		Short: "Select the current profile, or none",
		Long: `Select the profile used when neither --profile nor IOTCTL_PROFILE is given.
The selection is stored in ~/.iotctl/current. 'profile use --none' (or
'profile use -') clears it: no profile is used unless --profile or
IOTCTL_PROFILE names one. For one command, --profile '' uses no profile.`,
		Example: `  iotctl profile use dev
  iotctl profile use --none`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.None {
				if len(args) > 0 {
					return errs.Usagef("%s: --none takes no profile name: give NAME or --none", cmd.CommandPath())
				}
				return nil
			}
			return nameArgs(false)(cmd, args)
		},
		ValidArgsFunction: completeNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if opts.Name == "-" {
				opts.None, opts.Name = true, ""
			}
			return runProfileCmd(f, cmd, &opts.Store, &opts.Output, opts, runF, useRun)
		},
	}
	cmd.Flags().BoolVar(&opts.None, "none", false, "clear the selection: use no profile by default")
	return cmd
}

func useRun(opts *UseOptions) error {
	if opts.None {
		return useNone(opts)
	}
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

func useNone(opts *UseOptions) error {
	was, err := opts.Store.ClearCurrent()
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			Current  string `json:"current"`
			Previous string `json:"previous"`
		}{"", was})
	}
	if was == "" {
		_, err = fmt.Fprintln(opts.IO.ErrOut, "No profile selected (none was before).")
	} else {
		_, err = fmt.Fprintf(opts.IO.ErrOut, "No profile selected (was %s): commands use flags, IOTCTL_* variables and defaults unless --profile or IOTCTL_PROFILE names one.\n", was)
	}
	return err
}
