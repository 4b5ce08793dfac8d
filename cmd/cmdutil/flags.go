package cmdutil

import (
	"fmt"
	"strings"
	"time"

	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/pflag"
)

// AddSettingsFlags registers every setting of profile.Defs on fs, with
// --profile. Values are parsed and validated by profile.Resolve.
func AddSettingsFlags(fs *pflag.FlagSet) {
	fs.String("profile", "", "named profile in ~/.iotctl (default: the current profile)")
	for _, d := range profile.Defs {
		usage := d.Usage
		if len(d.Enum) > 0 {
			usage += " (" + strings.Join(d.Enum, "|") + ")"
		}
		usage += " [" + d.Env() + "]"
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
		case profile.Strings:
			fs.StringArrayP(d.Name, d.Short, nil, usage)
		default:
			fs.StringP(d.Name, d.Short, d.Default, usage)
		}
		if d.Hidden {
			_ = fs.MarkHidden(d.Name)
		}
	}
}

// NormalizeFlag lets every flag be spelled with underscores (--ca_file) and
// accepts the seed sample's --port_override.
func NormalizeFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	name = strings.ReplaceAll(name, "_", "-")
	if name == "port-override" {
		name = "port"
	}
	return pflag.NormalizedName(name)
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
