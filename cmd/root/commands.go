package root

import (
	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/spf13/cobra"
)

// addCommands adds one command package per line.
func addCommands(root *cobra.Command, f *cmdutil.Factory) {
}
