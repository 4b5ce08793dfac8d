// Package root builds iotctl's command tree and runs it.
package root

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/build"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// NewCmdRoot returns the root command with every subcommand.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iotctl",
		Short: "MQTT5 command line for AWS IoT Core and any MQTT5 broker",
		Long: `iotctl publishes, subscribes, benchmarks and checks policies against AWS IoT
Core and any MQTT5 broker. With no endpoint it talks to the embedded broker
('iotctl broker' on localhost, or one started in-process by pubsub and bench).

Every connection setting is a flag of the commands that connect (pub, sub,
pubsub, bench, whoami, profile validate), an IOTCTL_* variable and a profile
key: flag > env > profile > default ('iotctl help environment', 'iotctl help
profiles'). The other commands read no profile.`,
		Example: `  iotctl pubsub                                  # round trip on the embedded broker
  iotctl sub -t 'sensors/#' -v --endpoint broker.example
  iotctl pub -t sensors/1 -m '{"t":21.5}' -q 1 --endpoint broker.example
  iotctl profile set dev endpoint=a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com cert=thing.pem key=thing.key
  iotctl --profile dev whoami
  iotctl bench -q 1 -c 4 --subscribers 4`,
		Version:       f.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	// The line is written when --version asks for it.
	cobra.AddTemplateFunc("iotctlVersionLine", versionLine)
	cmd.SetVersionTemplate("{{iotctlVersionLine}}\n")
	cmd.SetGlobalNormalizationFunc(cmdutil.NormalizeFlag)
	cmd.SetFlagErrorFunc(cmdutil.FlagErrorFunc)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.CompletionOptions.HiddenDefaultCmd = false

	// Only the global settings are persistent; the connection settings
	// are flags of the commands that connect (Factory.ConnectionSettings).
	cmdutil.AddGlobalFlags(cmd.PersistentFlags())
	_ = cmd.RegisterFlagCompletionFunc("profile", CompleteProfiles(f))
	cmdutil.RegisterGlobalCompletions(cmd)

	cmd.AddCommand(newCmdVersion(f))
	// Subcommands, one package each:
	addCommands(cmd, f)
	addHelpTopics(cmd)
	addCompletionCmd(cmd)
	groupCommands(cmd)
	cmdutil.SuggestSubcommands(cmd)
	cmdutil.AddSDKAliases(cmd)
	return cmd
}

// Execute runs the command tree with args, after catching mosquitto's
// -h HOST, -p PORT and -i ID (cmdutil.CheckHabits) and an unknown
// subcommand before its flags (cmdutil.CheckSubcommand).
func Execute(ctx context.Context, cmd *cobra.Command, args []string) error {
	if err := cmdutil.CheckHabits(cmd, args); err != nil {
		return err
	}
	if err := cmdutil.CheckSubcommand(cmd, args); err != nil {
		return err
	}
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// Main runs iotctl with the process's arguments and returns the exit code.
func Main() int {
	ios := cmdutil.System()
	f := cmdutil.NewFactory(ios, build.Version)
	// On a terminal or with -v, the first signal says what happens next.
	ctx, stop := notifyContext(ios.ErrOut, func() bool {
		return !f.SaysStopping.Load() && (ios.StderrTTY || f.Verbose())
	}, func() time.Duration { return time.Duration(f.StopExtra.Load()) })
	cmd := NewCmdRoot(f)
	// A step cut short by the signal says only "context canceled".
	err := f.Attribute(cmdutil.Interrupted(ctx, Execute(ctx, cmd, os.Args[1:])))
	stop()
	if err == nil {
		return 0
	}
	if cmdutil.Classify(err) != errs.BrokenPipe { // quiet, as a process killed by SIGPIPE
		fmt.Fprintln(ios.ErrOut, cmdutil.Message(err))
	}
	return cmdutil.ExitCode(err)
}

// versionInfo is what `iotctl version -o json` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func currentVersion() versionInfo {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	return versionInfo{
		Version:  unknown(build.Version),
		Commit:   unknown(build.Commit),
		Date:     unknown(build.Date),
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func versionLine() string {
	v := currentVersion()
	return fmt.Sprintf("iotctl %s (commit %s, built %s, %s %s)", v.Version, v.Commit, v.Date, v.Go, v.Platform)
}

func newCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Example: `  iotctl version
  iotctl version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Flags and env only: a broken profile must not hide the version.
			s, err := f.Global(cmd)
			if err != nil {
				return err
			}
			return cmdutil.Output{Format: s.Output}.Print(f.IOStreams.Out, currentVersion(), func(w io.Writer) error {
				_, err := fmt.Fprintln(w, versionLine())
				return err
			})
		},
	}
}

// CompleteProfiles completes the names of saved profiles.
func CompleteProfiles(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		names, _ := f.Store().List()
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
