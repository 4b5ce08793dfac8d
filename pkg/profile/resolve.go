// Package profile defines the connection settings (Defs, Settings) and
// resolves them flag > IOTCTL_* env > profile > default. The profile files
// themselves are kept by package profilestore.
package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvName spells a setting as an environment variable: IOTCTL_CA_FILE.
func EnvName(name string) string {
	return "IOTCTL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Profiles is where Resolve finds profiles: a *profilestore.Store.
type Profiles interface {
	// Current is the selected profile's name, "" for none.
	Current() (string, error)
	// Load returns a profile's settings as text, keys canonical.
	Load(name string) (map[string]string, error)
}

// Resolve builds Settings from flags > IOTCTL_* env > profile > default.
// flags is the root's persistent flag set; store may be nil (no profiles).
// The profile is the --profile flag, else IOTCTL_PROFILE, else the current
// one; an explicitly named profile that does not exist is an error.
func Resolve(flags *pflag.FlagSet, store Profiles) (*Settings, error) {
	if flags == nil {
		flags = pflag.NewFlagSet("none", pflag.ContinueOnError)
	}
	name, from := SelectedProfile(flags)
	return resolve(flags, store, name, from)
}

// ResolveNamed resolves as if --profile name had been given.
func ResolveNamed(flags *pflag.FlagSet, store Profiles, name string) (*Settings, error) {
	if flags == nil {
		flags = pflag.NewFlagSet("none", pflag.ContinueOnError)
	}
	return resolve(flags, store, name, FromArgument)
}

// Where the selected profile's name came from (Settings.ProfileFrom).
const (
	FromArgument    = "argument"       // profile show NAME, profile validate NAME
	FromProfileFlag = "--profile"      // the flag
	FromProfileEnv  = "IOTCTL_PROFILE" // the variable
	FromSelection   = "selection"      // the selection file of 'profile use'
	FromNoSelection = ""               // nothing names one
)

// pather is the optional part of Profiles that names a profile's file.
type pather interface {
	Path(name string) string
}

func resolve(flags *pflag.FlagSet, store Profiles, name, from string) (*Settings, error) {
	var values map[string]string
	if from == FromNoSelection && store != nil {
		cur, err := store.Current()
		if err != nil {
			return nil, err
		}
		if cur != "" {
			name, from = cur, FromSelection
		}
	}
	var path string
	if name != "" {
		if store == nil {
			return nil, fmt.Errorf("%w: %q: no profile store", ErrNotFound, name)
		}
		v, err := store.Load(name)
		if err != nil {
			if from == FromSelection {
				err = fmt.Errorf("current profile: %w (run 'iotctl profile use NAME' to change it, or 'iotctl profile use --none')", err)
			}
			return nil, err
		}
		values = v
		if p, ok := store.(pather); ok {
			path = p.Path(name)
		}
	}

	// A fresh viper per run: flags stay the truth, nothing global.
	v := viper.New()
	profileMap := make(map[string]any, len(values))
	for k, val := range values {
		profileMap[k] = val
	}
	if err := v.MergeConfigMap(profileMap); err != nil {
		return nil, err
	}
	s := &Settings{Profile: name, ProfilePath: path}
	if name != "" || from != FromNoSelection {
		s.ProfileFrom = from
	}
	typed := make(map[string]any, len(Defs))
	for _, d := range Defs {
		v.SetDefault(d.Name, d.Default)
		f := flags.Lookup(d.Name)
		if f != nil {
			if err := v.BindPFlag(d.Name, f); err != nil {
				return nil, err
			}
		}
		if err := v.BindEnv(d.Name, d.Env()); err != nil {
			return nil, err
		}
		var text string
		if d.Type == Strings {
			// Repeated flags arrive as items, env and profile text as one
			// comma-separated string: normalise both to "a,b".
			var items []string
			for _, item := range v.GetStringSlice(d.Name) {
				items = append(items, SplitList(item)...)
			}
			text = strings.Join(items, ",")
		} else {
			text = v.GetString(d.Name)
		}
		if d.FileValue {
			text = ExpandHome(text)
		}
		src := FromDefault
		switch {
		case f != nil && f.Changed:
			src = FromFlag
		case os.Getenv(d.Env()) != "":
			src = FromEnv
		default:
			if _, ok := values[d.Name]; ok {
				src = FromProfile
			}
		}
		val, err := parseValue(d, text)
		if err != nil {
			return nil, fmt.Errorf("%w (from %s)", err, describe(src, d, name, path))
		}
		typed[d.Name] = val
		s.Entries = append(s.Entries, Entry{Name: d.Name, Value: text, Source: src, Secret: d.Secret, URL: d.URL})
	}
	s.assign(typed)
	s.endpointCredentials()
	return s, nil
}

// endpointCredentials takes the user info out of an endpoint URL
// (mqtt://alice:pw@host), as mosquitto_pub -L does: it becomes the
// username and password unless those settings are set, whatever their
// source; --password-file counts as a password. Endpoint is left without
// it, so nothing that prints or dials the endpoint sees the password; the
// endpoint entry keeps it, shown masked.
func (s *Settings) endpointCredentials() {
	ep, err := ParseEndpoint(s.Endpoint)
	if err != nil || !ep.HasUser {
		return
	}
	s.Endpoint = withoutUserinfo(s.Endpoint)
	if !s.IsSet("username") && ep.Username != "" {
		s.Username = ep.Username
		s.setEntry("username", ep.Username)
	}
	if ep.HasPassword && !s.IsSet("password") && !s.IsSet("password-file") {
		s.Password = ep.Password
		s.setEntry("password", ep.Password)
	}
}

func (s *Settings) setEntry(name, value string) {
	for i := range s.Entries {
		if s.Entries[i].Name == name {
			s.Entries[i].Value, s.Entries[i].Source = value, FromEndpoint
		}
	}
}

// ExpandHome replaces a leading ~ in a file path by the home folder.
func ExpandHome(path string) string {
	rest, ok := strings.CutPrefix(path, "~")
	if !ok || (rest != "" && rest[0] != '/' && rest[0] != filepath.Separator) {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, rest)
}

// SelectedProfile is the profile --profile or IOTCTL_PROFILE names and
// which of them did: FromProfileFlag, FromProfileEnv, or FromNoSelection
// when neither is set (the selection file decides). An empty --profile ”
// or IOTCTL_PROFILE= means no profile, whatever the selection file says.
func SelectedProfile(flags *pflag.FlagSet) (name, from string) {
	if f := flags.Lookup("profile"); f != nil && f.Changed {
		return f.Value.String(), FromProfileFlag
	}
	if e, ok := os.LookupEnv("IOTCTL_PROFILE"); ok {
		return e, FromProfileEnv
	}
	return "", FromNoSelection
}

func describe(src Source, d Def, profile, path string) string {
	switch src {
	case FromFlag:
		return "--" + d.Name
	case FromEnv:
		return d.Env()
	case FromProfile:
		return ProfileNote(profile, path)
	}
	return "default"
}

// ProfileNote names a profile and its file for messages: "profile dev,
// ~/.iotctl/profiles/dev.yaml" (the home folder as ~).
func ProfileNote(name, path string) string {
	if path == "" {
		return "profile " + name
	}
	return "profile " + name + ", " + TildePath(path)
}

// TildePath writes a path under the home folder with ~, as users type it.
func TildePath(path string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return path
	}
	if rest, ok := strings.CutPrefix(path, home); ok && (rest == "" || rest[0] == '/' || rest[0] == filepath.Separator) {
		return "~" + rest
	}
	return path
}
