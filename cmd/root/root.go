// Package root builds iotctl's command tree and runs it.
package root

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/build"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// NewCmdRoot returns the root command with every subcommand.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iotctl <command> [flags]",
		Short: "MQTT5 command line for AWS IoT Core and any MQTT5 broker",
		Long: `iotctl publishes, subscribes, benchmarks and checks policies against AWS IoT
Core and any MQTT5 broker. With no endpoint it talks to the embedded broker
('iotctl broker' on localhost, or one started in-process by pubsub and bench).

Every connection setting is a flag, an IOTCTL_* variable and a profile key:
flag > env > profile > default ('iotctl help environment', 'iotctl help profiles').`,
		Version:       f.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	cmd.SetVersionTemplate(versionLine() + "\n")
	cmd.SetGlobalNormalizationFunc(cmdutil.NormalizeFlag)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.FlagError(err) })
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.CompletionOptions.HiddenDefaultCmd = false

	pf := cmd.PersistentFlags()
	cmdutil.AddSettingsFlags(pf)
	f.Flags = pf
	registerCompletions(cmd, f)

	cmd.AddCommand(newCmdVersion(f))
	// Subcommands, one package each:
	addCommands(cmd, f)
	addHelpTopics(cmd)
	return cmd
}

// Main runs iotctl with the process's arguments and returns the exit code.
func Main() int {
	ios := cmdutil.System()
	f := cmdutil.NewFactory(ios, build.Version)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	cmd := NewCmdRoot(f)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(ios.ErrOut, cmdutil.Message(err))
	return cmdutil.ExitCode(err)
}

func versionLine() string {
	line := "iotctl " + build.Version
	if build.Commit != "" {
		line += " (" + build.Commit
		if build.Date != "" {
			line += ", " + build.Date
		}
		line += ")"
	}
	return line
}

func newCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(f.IOStreams.Out, versionLine())
			return err
		},
	}
}

// registerCompletions completes profile names and enum values.
func registerCompletions(cmd *cobra.Command, f *cmdutil.Factory) {
	_ = cmd.RegisterFlagCompletionFunc("profile", CompleteProfiles(f))
	for _, d := range profile.Defs {
		if len(d.Enum) == 0 {
			continue
		}
		values := d.Enum
		_ = cmd.RegisterFlagCompletionFunc(d.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	}
}

// CompleteProfiles completes the names of saved profiles.
func CompleteProfiles(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names, _ := f.Store().List()
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
