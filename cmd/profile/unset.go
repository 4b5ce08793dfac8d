package profile

import (
	"fmt"
	"strings"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
)

// UnsetOptions are the inputs of `iotctl profile unset`.
type UnsetOptions struct {
	IO     *cmdutil.IOStreams
	Store  *profilestore.Store
	Output string
	Name   string
	Keys   []string
}

// NewCmdUnset returns `iotctl profile unset NAME key…`.
func NewCmdUnset(f *cmdutil.Factory, runF func(*UnsetOptions) error) *cobra.Command {
	opts := &UnsetOptions{IO: f.IOStreams}
	return &cobra.Command{
		Use:   "unset NAME key...",
		Short: "Remove settings from a profile",
		Long: `Remove settings from a profile, so they fall back to their defaults (or to
flags and IOTCTL_* variables). A key the file holds is removed even when it is
misspelt, which is how a profile with an unknown key is repaired.`,
		Example: `  iotctl profile unset dev port alpn`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return errs.Usagef("%s: give the profile name and at least one key: %s", cmd.CommandPath(), cmd.UseLine())
			}
			return nil
		},
		ValidArgsFunction: completeSetKeys(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Keys = args[0], args[1:]
			return runProfileCmd(f, cmd, &opts.Store, &opts.Output, opts, runF, unsetRun)
		},
	}
}

func unsetRun(opts *UnsetOptions) error {
	for _, k := range opts.Keys {
		if strings.Contains(k, "=") {
			return errs.Usagef("%q: unset takes keys, not key=value", k)
		}
	}
	removed, err := opts.Store.Unset(opts.Name, opts.Keys)
	if err != nil {
		return usage(err)
	}
	if removed == nil {
		removed = []string{}
	}
	if opts.Output == "json" {
		return printJSON(opts.IO.Out, struct {
			Profile string   `json:"profile"`
			Removed []string `json:"removed"`
		}{opts.Name, removed})
	}
	if len(removed) == 0 {
		_, err = fmt.Fprintf(opts.IO.ErrOut, "Profile %s had none of: %s\n", opts.Name, strings.Join(opts.Keys, ", "))
		return err
	}
	_, err = fmt.Fprintf(opts.IO.ErrOut, "Removed %s from profile %s\n", strings.Join(removed, ", "), opts.Name)
	return err
}
