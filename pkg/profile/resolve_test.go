package profile

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/iotctl/iotctl/internal/testflags"
	"github.com/spf13/pflag"
)

// flagSet mimics the root's settings flags for the settings a test uses.
func flagSet(t *testing.T, args ...string) *pflag.FlagSet { return testflags.FlagSet(t, args...) }

func TestResolveExpandsHomeInFiles(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	got, err := Resolve(flagSet(t, "--cert", "~/certs/c.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "certs", "c.pem"); got.Cert != want {
		t.Errorf("cert = %q, want %q", got.Cert, want)
	}
	for in, want := range map[string]string{"~user/x": "~user/x", "a/~/b": "a/~/b", "": ""} {
		if got := ExpandHome(in); got != want {
			t.Errorf("ExpandHome(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every field of Settings is a setting of Defs and the other way round.
func TestSettingsMatchDefs(t *testing.T) {
	s := &Settings{}
	values := map[string]any{}
	for _, d := range Defs {
		v, err := parseValue(d, d.Default)
		if err != nil {
			t.Fatalf("default of %s: %v", d.Name, err)
		}
		values[d.Name] = v
	}
	s.assign(values) // panics on a type mismatch
	tags := map[string]bool{}
	rt := reflect.TypeOf(*s)
	for i := range rt.NumField() {
		if tag := rt.Field(i).Tag.Get("setting"); tag != "" {
			tags[tag] = true
			if _, ok := Lookup(tag); !ok {
				t.Errorf("field %s: setting %q is not in Defs", rt.Field(i).Name, tag)
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range Defs {
		if seen[d.Name] {
			t.Errorf("%s defined twice", d.Name)
		}
		seen[d.Name] = true
		if !tags[d.Name] {
			t.Errorf("setting %s has no Settings field", d.Name)
		}
		if d.Name != NormalizeKey(d.Name) {
			t.Errorf("%s is not in canonical spelling", d.Name)
		}
	}
}
