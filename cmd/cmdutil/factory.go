// Package cmdutil holds what commands share: the Factory of lazily built
// dependencies, IO streams, settings flags (connection flags only on the
// commands that connect), the error → exit-code table, the auth provider,
// a locked writer and plurals. How a command connects is its subpackage
// connect; the CONNACK report of whoami and validate is cmd/shared.
package cmdutil

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Factory builds dependencies on first use, so `--help` and `completion`
// never read profiles, credentials or key stores.
type Factory struct {
	IOStreams *IOStreams
	Version   string

	storeOnce sync.Once
	store     *profilestore.Store

	connFlagsOnce sync.Once
	connFlags     *connectionFlags

	verbose atomic.Bool

	// settings are the connection settings once resolved, so the root can
	// name the profile a failing setting came from (Attribute).
	settings atomic.Pointer[profile.Settings]

	// SaysStopping is set by a command that says itself on stderr that it
	// is stopping after a signal (broker); the root says it for the others.
	SaysStopping atomic.Bool

	// StopExtra (a time.Duration) is how much longer than shutdown.Limit a
	// command may take to stop after a signal because the user asked for
	// it (jobs run --grace): the root waits that much longer before it
	// gives up on a clean stop.
	StopExtra atomic.Int64
}

// NewFactory returns a Factory over the given streams.
func NewFactory(ios *IOStreams, version string) *Factory {
	return &Factory{IOStreams: ios, Version: version}
}

// Store is the profile store in $IOTCTL_HOME or ~/.iotctl.
func (f *Factory) Store() *profilestore.Store {
	f.storeOnce.Do(func() {
		f.store = &profilestore.Store{Dir: profilestore.DefaultDir(), Warn: f.Warn}
	})
	return f.store
}

// ConnectionSettings registers the connection settings as flags of cmd, a
// command that connects (grouped in its help), and returns the resolver of
// its settings: flag > IOTCTL_* env > profile > default, resolved once. A
// broken profile is an error of these commands only. Optional settings
// (e.g. thing-name) are flags of cmd only when named in optional.
func (f *Factory) ConnectionSettings(cmd *cobra.Command, optional ...string) func() (*profile.Settings, error) {
	f.AddConnectionFlags(cmd, optional...)
	var (
		once sync.Once
		st   *profile.Settings
		err  error
	)
	return func() (*profile.Settings, error) {
		once.Do(func() {
			st, err = profile.Resolve(SettingFlags(cmd), f.Store())
			if err != nil {
				err = FlagError(err)
				return
			}
			if err = proxyCredentials(cmd, st); err != nil {
				return
			}
			f.verbose.Store(st.Verbose)
			f.settings.Store(st)
		})
		return st, err
	}
}

// LocalSettings registers the named settings as flags of cmd, a command
// that does not connect, and returns the resolver of its settings from
// flags and IOTCTL_* variables alone: the global settings (-o, -v, --debug)
// and the named ones. No profile is read and other variables are ignored,
// so neither a broken profile nor a bad IOTCTL_PORT stops it; the other
// settings keep their defaults.
func (f *Factory) LocalSettings(cmd *cobra.Command, names ...string) func() (*profile.Settings, error) {
	addSettingFlags(cmd, names...)
	return func() (*profile.Settings, error) {
		st, err := ResolveOnly(SettingFlags(cmd), append(slices.Clone(GlobalSettings), names...))
		if err != nil {
			return nil, FlagError(err)
		}
		f.verbose.Store(st.Verbose)
		return st, nil
	}
}

// Global resolves the global settings of cmd (-o, -v, --debug) from flags
// and IOTCTL_* variables alone (see LocalSettings).
func (f *Factory) Global(cmd *cobra.Command) (*profile.Settings, error) {
	st, err := ResolveOnly(SettingFlags(cmd), GlobalSettings)
	if err != nil {
		return nil, FlagError(err)
	}
	f.verbose.Store(st.Verbose)
	return st, nil
}

// ResolveOnly resolves the named settings from flags (those of fs) and
// IOTCTL_* variables; every other setting has its default, whatever the
// environment says, and no profile is read.
func ResolveOnly(fs *pflag.FlagSet, names []string) (*profile.Settings, error) {
	// Flags only to hold the values: no help text, no --profile.
	all := pflag.NewFlagSet("only", pflag.ContinueOnError)
	for _, d := range profile.Defs {
		addSettingFlag(all, d, "")
	}
	src := map[string]profile.Source{}
	for _, d := range profile.Defs {
		text, from := d.Default, profile.FromDefault
		if slices.Contains(names, d.Name) {
			if fl := fs.Lookup(d.Name); fl != nil && fl.Changed {
				if sv, ok := fl.Value.(pflag.SliceValue); ok {
					text = strings.Join(sv.GetSlice(), ",")
				} else {
					text = fl.Value.String()
				}
				from = profile.FromFlag
			} else if env := os.Getenv(d.Env()); env != "" {
				if err := profile.ValidateValue(d.Name, env); err != nil {
					return nil, fmt.Errorf("%w (from %s)", err, d.Env())
				}
				text, from = env, profile.FromEnv
			}
		}
		src[d.Name] = from
		if text == "" { // mark it changed, so the environment is not read
			switch d.Type {
			case profile.Int:
				text = "0"
			case profile.Bool:
				text = "false"
			case profile.Duration:
				text = "0s"
			}
		}
		if err := all.Set(d.Name, text); err != nil {
			return nil, fmt.Errorf("--%s: %w", d.Name, err)
		}
	}
	st, err := profile.ResolveNamed(all, nil, "")
	if err != nil {
		return nil, err
	}
	for i := range st.Entries {
		if s, ok := src[st.Entries[i].Name]; ok && st.Entries[i].Source == profile.FromFlag {
			st.Entries[i].Source = s
		}
	}
	return st, nil
}

// Attribute names the profile and its file in an error caused by one of
// its settings (profile.Settings.Attribute), once the command resolved its
// connection settings; the root applies it to every error it prints.
func (f *Factory) Attribute(err error) error {
	return f.settings.Load().Attribute(err)
}

// UseSettings records settings a command resolved itself (profile
// validate), for Attribute.
func (f *Factory) UseSettings(st *profile.Settings) { f.settings.Store(st) }

// Verbose reports -v when the settings were resolved already; it never
// resolves them (it is asked from the signal handler).
func (f *Factory) Verbose() bool { return f.verbose.Load() }

// Warn prints a warning line on stderr (Warner).
func (f *Factory) Warn(msg string) {
	if f.IOStreams != nil && f.IOStreams.ErrOut != nil {
		Warner(f.IOStreams.ErrOut)(msg)
	}
}
