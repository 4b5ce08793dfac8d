package clitest

import (
	"io"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/spf13/cobra"
)

// Root mirrors cmd/root for the in-process tests of one command: the
// global flags, flag-name normalisation, flag errors as usage errors,
// errors and usage left to the caller, output to out and errOut, and cmd
// as its only subcommand.
func Root(cmd *cobra.Command, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "iotctl", SilenceErrors: true, SilenceUsage: true}
	root.SetGlobalNormalizationFunc(cmdutil.NormalizeFlag)
	root.SetFlagErrorFunc(cmdutil.FlagErrorFunc)
	root.SetOut(out)
	root.SetErr(errOut)
	cmdutil.AddGlobalFlags(root.PersistentFlags())
	root.AddCommand(cmd)
	return root
}
