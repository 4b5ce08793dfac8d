// Package policy is `iotctl policy`: generate and check AWS IoT policies.
package policy

import (
	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/policy/check"
	"github.com/iotctl/iotctl/cmd/policy/gen"
	"github.com/spf13/cobra"
)

// NewCmdPolicy returns `iotctl policy` with gen and check.
func NewCmdPolicy(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy <command>",
		Short: "Generate and check AWS IoT policies",
		Long: `Generate least-privilege AWS IoT policies, and check what policies allow,
offline: no AWS credentials and no network.

Policies use IAM-style wildcards: * matches any characters (across topic
levels), ? one character. MQTT + and # are plain characters in a policy.`,
		Example: `  iotctl policy gen -t 'sensors/+/data' --client-id 'test-*' --region eu-west-1 --account 123456789012
  iotctl policy check --policy policy.json --action iot:Publish --resource topic/sensors/1/data`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(gen.NewCmdGen(f, nil))
	cmd.AddCommand(check.NewCmdCheck(f, nil))
	return cmd
}
