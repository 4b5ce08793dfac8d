package root

import (
	"github.com/iotctl/iotctl/cmd/bench"
	"github.com/iotctl/iotctl/cmd/broker"
	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/jobs"
	"github.com/iotctl/iotctl/cmd/policy"
	profilecmd "github.com/iotctl/iotctl/cmd/profile"
	"github.com/iotctl/iotctl/cmd/provision"
	"github.com/iotctl/iotctl/cmd/pub"
	"github.com/iotctl/iotctl/cmd/pubsub"
	"github.com/iotctl/iotctl/cmd/reply"
	"github.com/iotctl/iotctl/cmd/req"
	"github.com/iotctl/iotctl/cmd/shadow"
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
	root.AddCommand(req.NewCmdReq(f, nil))
	root.AddCommand(reply.NewCmdReply(f, nil))
	root.AddCommand(bench.NewCmdBench(f, nil))
	root.AddCommand(whoami.NewCmdWhoami(f, nil))
	root.AddCommand(shadow.NewCmdShadow(f))
	root.AddCommand(jobs.NewCmdJobs(f))
	root.AddCommand(provision.NewCmdProvision(f, nil))
}

// Command groups of the root help, in this order.
var commandGroups = []struct {
	ID, Title string
	Commands  []string
}{
	{"messaging", "Messaging:", []string{"pub", "sub", "pubsub", "req", "reply"}},
	{"bench", "Benchmark:", []string{"bench"}},
	{"aws", "AWS IoT:", []string{"policy", "whoami", "shadow", "jobs", "provision"}},
	{"config", "Configuration:", []string{"profile"}},
	{"other", "Other:", []string{"broker", "version", "completion", "help"}},
}

// groupCommands sorts the root's commands into commandGroups.
func groupCommands(root *cobra.Command) {
	for _, g := range commandGroups {
		root.AddGroup(&cobra.Group{ID: g.ID, Title: g.Title})
		for _, name := range g.Commands {
			for _, c := range root.Commands() {
				if c.Name() == name {
					c.GroupID = g.ID
				}
			}
		}
	}
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
}

// addCompletionCmd adds cobra's completion command now rather than at
// Execute, so it and its shells get examples (per-user install paths).
func addCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = `  iotctl completion bash > ~/.local/share/bash-completion/completions/iotctl
  iotctl completion zsh > ~/.zfunc/_iotctl      # with fpath=(~/.zfunc $fpath) in ~/.zshrc
  iotctl completion fish > ~/.config/fish/completions/iotctl.fish`
		for _, sh := range c.Commands() {
			sh.Example = completionExamples[sh.Name()]
		}
	}
}

var completionExamples = map[string]string{
	"bash": `  mkdir -p ~/.local/share/bash-completion/completions
  iotctl completion bash > ~/.local/share/bash-completion/completions/iotctl`,
	"zsh": `  mkdir -p ~/.zfunc
  iotctl completion zsh > ~/.zfunc/_iotctl
  # in ~/.zshrc, before compinit:
  fpath=(~/.zfunc $fpath); autoload -U compinit; compinit`,
	"fish": `  mkdir -p ~/.config/fish/completions
  iotctl completion fish > ~/.config/fish/completions/iotctl.fish`,
	"powershell": `  iotctl completion powershell | Out-String | Invoke-Expression
  iotctl completion powershell >> $PROFILE`,
}
