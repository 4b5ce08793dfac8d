// Package cmdutil holds what commands share: the Factory of lazily built
// dependencies, IO streams, settings flags and the error → exit-code table.
package cmdutil

import (
	"sync"
	"sync/atomic"

	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"github.com/spf13/pflag"
)

// Factory builds dependencies on first use, so `--help` and `completion`
// never read profiles, credentials or key stores.
type Factory struct {
	IOStreams *IOStreams
	Version   string

	// Flags is the root's persistent flag set holding the settings flags.
	Flags *pflag.FlagSet

	storeOnce sync.Once
	store     *profilestore.Store

	settingsOnce sync.Once
	settings     *profile.Settings
	settingsErr  error
	verbose      atomic.Bool

	// SaysStopping is set by a command that says itself on stderr that it
	// is stopping after a signal (broker); the root says it for the others.
	SaysStopping atomic.Bool
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

// Settings resolves the settings once: flag > env > profile > default.
func (f *Factory) Settings() (*profile.Settings, error) {
	f.settingsOnce.Do(func() {
		f.settings, f.settingsErr = profile.Resolve(f.Flags, f.Store())
		if f.settingsErr != nil {
			f.settingsErr = FlagError(f.settingsErr)
		} else {
			f.verbose.Store(f.settings.Verbose)
		}
	})
	return f.settings, f.settingsErr
}

// Verbose reports -v when the settings were resolved already; it never
// resolves them (it is asked from the signal handler).
func (f *Factory) Verbose() bool { return f.verbose.Load() }

// Warn prints a warning line on stderr.
func (f *Factory) Warn(msg string) {
	if f.IOStreams != nil && f.IOStreams.ErrOut != nil {
		f.IOStreams.ErrOut.Write([]byte("iotctl: warning: " + msg + "\n"))
	}
}
