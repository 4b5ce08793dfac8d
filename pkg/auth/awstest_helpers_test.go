package auth

import (
	"testing"

	"github.com/spf13/pflag"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// settingsForAWSTest resolves Settings from flag values, as the root
// command would (flags registered like cmdutil.AddSettingsFlags, which
// this package cannot import).
func settingsForAWSTest(t *testing.T, flags map[string][]string) *profile.Settings {
	t.Helper()
	s, err := profile.Resolve(settingsFlags(t, flags), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// settingsFlags is a flag set with the settings flags (registered like
// cmdutil.AddSettingsFlags) and the string flags extra, after setting
// every value of flags in turn.
func settingsFlags(t *testing.T, flags map[string][]string, extra ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	for _, name := range extra {
		fs.String(name, "", "")
	}
	for _, d := range profile.Defs {
		switch d.Type {
		case profile.Strings:
			fs.StringArray(d.Name, nil, "")
		default:
			fs.String(d.Name, d.Default, "")
		}
	}
	for name, values := range flags {
		for _, v := range values {
			if err := fs.Set(name, v); err != nil {
				t.Fatalf("--%s %s: %v", name, v, err)
			}
		}
	}
	return fs
}

// oneEach is flags with one value each, for settingsFlags.
func oneEach(flags map[string]string) map[string][]string {
	m := make(map[string][]string, len(flags))
	for k, v := range flags {
		m[k] = []string{v}
	}
	return m
}

// wantKind fails unless err is of kind k.
func wantKind(t *testing.T, err error, k errs.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want kind %v", k)
	}
	if got := errs.KindOf(err); got != k {
		t.Fatalf("error kind %v, want %v: %v", got, k, err)
	}
}
