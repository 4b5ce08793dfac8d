package cmdutil

import (
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// mosquittoShorts are mosquitto_pub/sub's one-letter flags that iotctl
// spells out: -h HOST, -p PORT, -i ID. Each maps to the flag that takes the
// value here.
var mosquittoShorts = []struct{ short, flag, what string }{
	{"h", "endpoint", "the broker"},
	{"p", "port", "the port"},
	{"i", "client-id", "the client ID"},
}

// CheckHabits catches mosquitto's -h HOST, -p PORT and -i ID on a command
// that connects, before anything runs: -h (--help) followed by a value
// would print help and publish nothing, and -p and -i are not flags here.
// Plain -h still prints help. It applies only where the command does not
// define the letter itself (policy check -p is its --policy).
func CheckHabits(root *cobra.Command, args []string) error {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil || cmd.Flags().Lookup("endpoint") == nil {
		return nil
	}
	cmd.InitDefaultHelpFlag()
	fs := cmd.Flags()
	lookup := flagLookup(cmd)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		next := ""
		if i+1 < len(args) {
			next = args[i+1]
		}
		hasValue := next != "" && !strings.HasPrefix(next, "-")
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, inline := strings.Cut(a[2:], "=")
			f := lookup(name)
			if name == "help" && !inline && hasValue && !isArg(cmd, next) {
				return habitError("--help", next, "endpoint")
			}
			if f != nil && f.NoOptDefVal == "" && !inline {
				i++ // its value
			}
		case strings.HasPrefix(a, "-") && len(a) == 2:
			letter := a[1:]
			for _, m := range mosquittoShorts {
				if letter != m.short || !hasValue {
					continue
				}
				if m.short == "h" {
					if f := fs.ShorthandLookup("h"); f != nil && f.Name == "help" && !isArg(cmd, next) {
						return habitError("-h", next, m.flag)
					}
				} else if fs.ShorthandLookup(letter) == nil && lookup(m.flag) != nil {
					return habitError("-"+letter, next, m.flag)
				}
			}
			if f := fs.ShorthandLookup(letter); f != nil && f.NoOptDefVal == "" {
				i++
			}
		}
	}
	return nil
}

// flagLookup finds a flag of cmd, its own or inherited, by any spelling.
func flagLookup(cmd *cobra.Command) func(name string) *pflag.Flag {
	return func(name string) *pflag.Flag {
		name = string(NormalizeFlag(nil, name))
		if f := cmd.Flags().Lookup(name); f != nil {
			return f
		}
		return cmd.InheritedFlags().Lookup(name)
	}
}

// firstPositional is the first argument of args that is neither a flag
// of cmd nor a flag's value ("" if none).
func firstPositional(cmd *cobra.Command, args []string) string {
	lookup := flagLookup(cmd)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1]
			}
			return ""
		case strings.HasPrefix(a, "--"):
			name, _, inline := strings.Cut(a[2:], "=")
			if f := lookup(name); f != nil && f.NoOptDefVal == "" && !inline {
				i++
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			f := cmd.Flags().ShorthandLookup(a[len(a)-1:])
			if f == nil {
				f = cmd.InheritedFlags().ShorthandLookup(a[len(a)-1:])
			}
			if f != nil && f.NoOptDefVal == "" && len(a) == 2 {
				i++
			}
		default:
			return a
		}
	}
	return ""
}

// CheckSubcommand reports an unknown subcommand before the flags are
// parsed, so "iotctl pbu -t a" says "did you mean pub" rather than that
// -t is not a flag of iotctl.
func CheckSubcommand(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil
	}
	root.InitDefaultHelpCmd()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == nil || !cmd.HasSubCommands() || cmd.Args == nil {
		return nil
	}
	if p := firstPositional(cmd, rest); p != "" {
		return cmd.Args(cmd, []string{p})
	}
	return nil
}

// isArg reports whether v is one of cmd's closed positional arguments
// (bench's modes), which may follow -h.
func isArg(cmd *cobra.Command, v string) bool {
	for _, a := range cmd.ValidArgs {
		if a == v {
			return true
		}
	}
	return false
}

func habitError(typed, value, flag string) error {
	for _, m := range mosquittoShorts {
		if m.flag != flag {
			continue
		}
		if typed == "-h" || typed == "--help" {
			return errs.Usagef("%s is help here; %s is --%s %s", typed, m.what, flag, value)
		}
		return errs.Usagef("%s is not a flag here; %s is --%s %s", typed, m.what, flag, value)
	}
	return nil
}
