package root

import (
	"github.com/iotctl/iotctl/cmd/bench"
	"github.com/iotctl/iotctl/cmd/broker"
	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/policy"
	profilecmd "github.com/iotctl/iotctl/cmd/profile"
	"github.com/iotctl/iotctl/cmd/pub"
	"github.com/iotctl/iotctl/cmd/pubsub"
	"github.com/iotctl/iotctl/cmd/sub"
	"github.com/iotctl/iotctl/cmd/whoami"
	"github.com/spf13/cobra"
)

// addCommands adds one command package per line.
func addCommands(root *cobra.Command, f *cmdutil.Factory) {
	root.AddCommand(profilecmd.NewCmdProfile(f))
	root.AddCommand(broker.NewCmdBroker(f, nil))
	root.AddCommand(policy.NewCmdPolicy(f))
	root.AddCommand(sub.NewCmdSub(f, nil))
	root.AddCommand(pub.NewCmdPub(f, nil))
	root.AddCommand(pubsub.NewCmdPubSub(f, nil))
	root.AddCommand(bench.NewCmdBench(f, nil))
	root.AddCommand(whoami.NewCmdWhoami(f, nil))
}
