package cmdutil

import (
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// Choice is a flag's closed list of values: the one list its completion
// offers and its validation accepts, so the two cannot drift.
type Choice struct {
	Flag   string
	Values []string
	// Descriptions, by value, shown by shells that show them (optional).
	Descriptions map[string]string
}

// QoS is the choice of -q/--qos.
var QoS = []string{"0", "1", "2"}

// Register completes c's values for the flag on cmd.
func (c Choice) Register(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc(c.Flag, func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, v := range c.Values {
			if strings.HasPrefix(v, toComplete) {
				out = append(out, cobra.CompletionWithDesc(v, c.Descriptions[v]))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}

// Check returns nil when v is one of the values, else the usage error
// "--flag v: use a, b or c".
func (c Choice) Check(v string) error {
	for _, ok := range c.Values {
		if v == ok {
			return nil
		}
	}
	return errs.Usagef("--%s %s: use %s", c.Flag, v, orList(c.Values))
}

// orList is "a, b or c".
func orList(vs []string) string {
	if len(vs) < 2 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}
