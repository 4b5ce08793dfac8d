package root

import (
	"github.com/spf13/cobra"
)

func addHelpTopics(root *cobra.Command) {
}
