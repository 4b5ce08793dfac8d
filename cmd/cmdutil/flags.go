package cmdutil

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// GlobalSettings are the settings every command takes, persistent flags
// of the root: output format, progress and packet trace. Every other
// setting of profile.Defs is a connection setting, a flag only of the
// commands that connect.
var GlobalSettings = []string{"output", "verbose", "debug"}

// IsGlobal reports whether the setting is one of GlobalSettings.
func IsGlobal(name string) bool { return slices.Contains(GlobalSettings, name) }

// groupAnnotation holds a flag's help group (flagGroups).
const groupAnnotation = "iotctl_group"

// settingAnnotation marks the flags that are settings of profile.Defs (and
// --profile), so a command's own flag of the same name (sub's -v) is not
// taken for the setting.
const settingAnnotation = "iotctl_setting"

// SettingFlags are the setting flags of cmd, after parsing: its own and
// the inherited global ones.
func SettingFlags(cmd *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Annotations[settingAnnotation]; ok {
			fs.AddFlag(f)
		}
	})
	return fs
}

// Help groups of the connection settings, in help order; a setting not
// listed here is shown under Connection.
var settingGroups = []struct {
	Title string
	Names []string
}{
	{"Connection", []string{"endpoint", "port", "auth", "transport", "client-id", "client-id-prefix", "username", "password", "password-file", "connect-timeout", "max-reconnects", "limits"}},
	{"TLS and certificates", []string{"cert", "key", "key-password", "ca-file", "ca-path", "tls-version", "tls-max-version", "server-name", "alpn", "insecure", "pkcs11-lib", "pkcs11-pin", "pkcs11-slot", "pkcs11-token-label", "pkcs11-key-label", "pkcs12-file", "pkcs12-password", "cert-store"}},
	{"AWS", []string{"thing-name", "region", "aws-profile", "sts-endpoint", "cognito-identity-id", "cognito-login", "cognito-endpoint"}},
	{"Custom authorizer", []string{"authorizer-name", "authorizer-username", "authorizer-password", "token-key-name", "token-value", "token-signature", "no-metrics"}},
	{"Proxy", []string{"proxy", "proxy-ca-file", "proxy-host", "proxy-port", "no-proxy"}},
	{"Session", []string{"mqtt-version", "keepalive", "session-expiry", "clean-start", "max-packet-size", "receive-maximum", "inflight", "connect-property", "request-response-info", "will-topic", "will-message", "will-qos", "will-retain", "will-delay", "will-expiry", "will-content-type", "will-property"}},
}

func settingGroup(name string) string {
	for _, g := range settingGroups {
		if slices.Contains(g.Names, name) {
			return g.Title
		}
	}
	return settingGroups[0].Title
}

// AddGlobalFlags registers --profile and GlobalSettings on fs (the root's
// persistent flags).
func AddGlobalFlags(fs *pflag.FlagSet) {
	fs.String("profile", "", "named profile in ~/.iotctl (default: the current profile)")
	_ = fs.SetAnnotation("profile", settingAnnotation, []string{"true"})
	for _, d := range profile.Defs {
		if IsGlobal(d.Name) {
			addSetting(fs, d)
		}
	}
}

// AddSettingsFlags registers every setting of profile.Defs on fs, with
// --profile: a flag set that parses any command line of settings (tests,
// tools). Commands register theirs with AddGlobalFlags and
// Factory.ConnectionSettings.
func AddSettingsFlags(fs *pflag.FlagSet) {
	AddGlobalFlags(fs)
	for _, d := range profile.Defs {
		if !IsGlobal(d.Name) {
			addSetting(fs, d)
		}
	}
}

// AddConnectionFlags registers the connection settings on cmd as local
// flags, grouped in its help, with their completions (ConnectionSettings
// does, and resolves them). Optional settings are registered only when
// named.
//
// The flags are made once per Factory and shared by every command that
// connects, as cobra shares the persistent flags: a process runs one
// command of its tree, so one set of flag values serves them all. Making
// the ~70 flags anew for each of those ~20 commands was most of what every
// run of iotctl (version included) spent building its command tree. One
// Factory, one command tree.
func (f *Factory) AddConnectionFlags(cmd *cobra.Command, optional ...string) {
	f.connFlagsOnce.Do(func() { f.connFlags = newConnectionFlags() })
	cf := f.connFlags
	fs := cmd.Flags()
	for i, d := range cf.defs {
		if d.Optional && !slices.Contains(optional, d.Name) {
			continue
		}
		fl := cf.flags[i]
		fs.AddFlag(fl)
		if !cf.completed[i] {
			// cobra keeps completions by flag: once covers every command.
			registerCompletion(cmd, d)
			cf.completed[i] = true
		}
	}
	for _, fl := range cf.proxyCreds {
		fs.AddFlag(fl)
	}
	cmd.SetUsageTemplate(groupedUsageTemplate)
}

// connectionFlags are a Factory's connection setting flags.
type connectionFlags struct {
	defs       []profile.Def
	flags      []*pflag.Flag
	completed  []bool
	proxyCreds []*pflag.Flag
}

func newConnectionFlags() *connectionFlags {
	cf := &connectionFlags{}
	fs := pflag.NewFlagSet("connection", pflag.ContinueOnError)
	for _, d := range profile.Defs {
		if IsGlobal(d.Name) {
			continue
		}
		addSetting(fs, d)
		fl := fs.Lookup(d.Name)
		fl.Annotations[groupAnnotation] = []string{settingGroup(d.Name)}
		cf.defs = append(cf.defs, d)
		cf.flags = append(cf.flags, fl)
	}
	cf.completed = make([]bool, len(cf.defs))
	addProxyCredentialFlags(fs)
	cf.proxyCreds = []*pflag.Flag{fs.Lookup("proxy-user-name"), fs.Lookup("proxy-password")}
	return cf
}

// addSettingFlags registers the named settings on cmd as its own flags.
func addSettingFlags(cmd *cobra.Command, names ...string) {
	for _, name := range names {
		d, ok := profile.Lookup(name)
		if !ok {
			panic("cmdutil: no setting " + name)
		}
		addSetting(cmd.Flags(), d)
		registerCompletion(cmd, d)
	}
}

func addSetting(fs *pflag.FlagSet, d profile.Def) {
	usage := d.Usage
	if len(d.Enum) > 0 {
		usage += " (" + strings.Join(d.Enum, "|") + ")"
	}
	usage += " [" + d.Env() + "]"
	addSettingFlag(fs, d, usage)
	fl := fs.Lookup(d.Name)
	fl.Hidden = d.Hidden
	fl.Annotations = map[string][]string{settingAnnotation: {"true"}}
}

// addSettingFlag defines the flag of setting d on fs: its type and default.
func addSettingFlag(fs *pflag.FlagSet, d profile.Def, usage string) {
	switch d.Type {
	case profile.Bool:
		fs.BoolP(d.Name, d.Short, d.Default == "true", usage)
	case profile.Int:
		var n int
		fs.IntP(d.Name, d.Short, n, usage)
	case profile.Duration:
		def, _ := profile.ParseDuration(d.Default)
		v := durationValue(def)
		fs.VarP(&v, d.Name, d.Short, usage)
		zeroDefault(fs, d.Name)
	case profile.Strings:
		var items []string
		StringArrayVarP(fs, &items, d.Name, d.Short, usage)
	default:
		fs.StringP(d.Name, d.Short, d.Default, usage)
	}
}

// RegisterCompletion completes a setting flag of cmd: enum values;
// file-valued settings and booleans complete file names (the shell's
// default), the other free-text ones nothing.
func registerCompletion(cmd *cobra.Command, d profile.Def) {
	switch {
	case len(d.Enum) > 0:
		values := d.Enum
		_ = cmd.RegisterFlagCompletionFunc(d.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	case d.Type == profile.Bool, d.FileValue:
	default:
		_ = cmd.RegisterFlagCompletionFunc(d.Name, cobra.NoFileCompletions)
	}
}

// RegisterGlobalCompletions completes the global settings of the root.
func RegisterGlobalCompletions(root *cobra.Command) {
	for _, d := range profile.Defs {
		if IsGlobal(d.Name) {
			registerCompletion(root, d)
		}
	}
}

func init() {
	cobra.AddTemplateFunc("iotctlFlagGroups", flagGroups)
}

// flagGroups is the Flags part of a connecting command's help: its own
// flags, then the connection settings by group.
func flagGroups(c *cobra.Command) string {
	own := pflag.NewFlagSet("own", pflag.ContinueOnError)
	groups := map[string]*pflag.FlagSet{}
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		g := f.Annotations[groupAnnotation]
		if len(g) == 0 {
			own.AddFlag(f)
			return
		}
		if groups[g[0]] == nil {
			groups[g[0]] = pflag.NewFlagSet(g[0], pflag.ContinueOnError)
		}
		groups[g[0]].AddFlag(f)
	})
	var b strings.Builder
	b.WriteString("Flags:\n")
	b.WriteString(strings.TrimRight(own.FlagUsages(), " \n"))
	for _, g := range settingGroups {
		if fs := groups[g.Title]; fs != nil && fs.HasAvailableFlags() {
			b.WriteString("\n\n" + g.Title + " flags:\n")
			b.WriteString(strings.TrimRight(fs.FlagUsages(), " \n"))
		}
	}
	return b.String()
}

// groupedUsageTemplate is cobra's usage template with the local flags
// grouped by flagGroups.
const groupedUsageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

{{iotctlFlagGroups .}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// NormalizeFlag lets every flag be spelled with underscores (--ca_file) and
// accepts the AWS IoT SDK samples' names (sdkAliases: --port_override,
// --signing_region, --custom_auth_username …).
func NormalizeFlag(f *pflag.FlagSet, name string) pflag.NormalizedName {
	name = strings.ReplaceAll(name, "_", "-")
	if to, ok := sdkAliases[name]; ok {
		name = to
	} else if to, ok := settingAliases[name]; ok && f != nil && f.Lookup(to) != nil {
		name = to
	}
	return pflag.NormalizedName(name)
}

// settingAliases are short spellings of a setting's flag, for the commands
// that have that flag only: other commands keep a flag of that name of
// their own (broker --thing NAME=PRINCIPAL, policy gen --thing).
var settingAliases = map[string]string{
	"thing": "thing-name", // the shadow and jobs commands' --thing
}

// DurationVar binds a time.Duration flag to p that, unlike pflag's, also
// takes bare seconds (--interval 2) as mosquitto's tools do.
func DurationVar(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	DurationVarP(fs, p, name, "", value, usage)
}

// DurationVarP is DurationVar with a one-letter flag.
func DurationVarP(fs *pflag.FlagSet, p *time.Duration, name, short string, value time.Duration, usage string) {
	*p = value
	fs.VarP((*durationValue)(p), name, short, usage)
	zeroDefault(fs, name)
}

// zeroDefault makes a zero duration's default "0", which pflag takes for
// the zero value: help then shows no "(default 0s)", so a usage that says
// its own default ("(default 10s)") shows one default, not two.
func zeroDefault(fs *pflag.FlagSet, name string) {
	if f := fs.Lookup(name); f != nil && f.DefValue == "0s" {
		f.DefValue = "0"
	}
}

// durationValue is a time.Duration flag that also takes bare seconds.
type durationValue time.Duration

func (d *durationValue) String() string { return profile.FormatDuration(time.Duration(*d)) }
func (d *durationValue) Type() string   { return "duration" }
func (d *durationValue) Set(s string) error {
	v, err := profile.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want e.g. 1s, 100ms, 5m or a number of seconds", s)
	}
	*d = durationValue(v)
	return nil
}
