package cmdutil

import (
	"bytes"
	"encoding/csv"
	"strings"

	"github.com/spf13/pflag"
)

// StringArrayVar is pflag's StringArrayVar (each --name VALUE adds one
// item, commas and all) with a nil default. pflag's own value writes its
// default through a new 4 KB encoding/csv writer when the flag is
// defined: for the ~30 such flags of the tree that was a tenth of the
// start-up time of every command.
func StringArrayVar(fs *pflag.FlagSet, p *[]string, name, usage string) {
	StringArrayVarP(fs, p, name, "", usage)
}

// StringArrayVarP is StringArrayVar with a one-letter flag.
func StringArrayVarP(fs *pflag.FlagSet, p *[]string, name, short, usage string) {
	*p = nil
	fl := fs.VarPF(&stringArrayValue{value: p}, name, short, usage)
	// "" is what pflag takes for no default in help; the man pages show
	// pflag's "[]" (internal/genman).
	fl.DefValue = ""
}

// stringArrayValue behaves as pflag's stringArray: the first Set replaces
// the default, later ones append; String is pflag's text ("[a,b]" in CSV),
// which viper parses back for the settings.
type stringArrayValue struct {
	value   *[]string
	changed bool
}

var _ pflag.SliceValue = (*stringArrayValue)(nil)

func (s *stringArrayValue) Set(val string) error {
	if !s.changed {
		*s.value = []string{val}
		s.changed = true
	} else {
		*s.value = append(*s.value, val)
	}
	return nil
}

func (s *stringArrayValue) Append(val string) error {
	*s.value = append(*s.value, val)
	return nil
}

func (s *stringArrayValue) Replace(val []string) error {
	*s.value = append([]string(nil), val...)
	return nil
}

func (s *stringArrayValue) GetSlice() []string { return append([]string{}, *s.value...) }

func (s *stringArrayValue) Type() string { return "stringArray" }

func (s *stringArrayValue) String() string {
	if len(*s.value) == 0 {
		return "[]"
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(*s.value) // a bytes.Buffer does not fail
	w.Flush()
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}
