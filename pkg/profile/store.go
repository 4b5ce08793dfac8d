package profile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Sentinel errors of the store; wrapped with the details.
var (
	ErrNotFound    = errors.New("profile not found")
	ErrInvalidName = errors.New("invalid profile name")
	ErrUnknownKey  = errors.New("unknown setting")
	ErrMalformed   = errors.New("malformed profile")
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Store keeps profiles as one YAML file each, <dir>/profiles/<name>.yaml,
// and the current selection as the name in <dir>/current.
type Store struct {
	Dir string
	// Warn receives warnings such as a profile file readable by others.
	Warn func(string)
}

// DefaultDir is $IOTCTL_HOME, else ~/.iotctl.
func DefaultDir() string {
	if d := os.Getenv("IOTCTL_HOME"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".iotctl"
	}
	return filepath.Join(home, ".iotctl")
}

// ValidateName checks a profile name: lower-case letters, digits, - and _.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use lower-case letters, digits, - and _ (at most 64, starting with a letter or digit)", ErrInvalidName, name)
	}
	return nil
}

func (s *Store) profilesDir() string     { return filepath.Join(s.Dir, "profiles") }
func (s *Store) Path(name string) string { return filepath.Join(s.profilesDir(), name+".yaml") }
func (s *Store) currentPath() string     { return filepath.Join(s.Dir, "current") }
func (s *Store) warn(format string, a ...any) {
	if s.Warn != nil {
		s.Warn(fmt.Sprintf(format, a...))
	}
}

// List returns the profile names, sorted.
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.profilesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".yaml")
		if ok && !e.IsDir() && nameRE.MatchString(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Exists reports whether a profile file exists.
func (s *Store) Exists(name string) bool {
	_, err := os.Stat(s.Path(name))
	return err == nil
}

// Load reads a profile: setting name → text value. Unknown keys are errors.
func (s *Store) Load(name string) (map[string]string, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	path := s.Path(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		known, _ := s.List()
		hint := "none exist yet: create one with 'iotctl profile set " + name + " endpoint=…'"
		if len(known) > 0 {
			hint = "known profiles: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("%w: %q (%s)", ErrNotFound, name, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		s.warn("profile file %s is readable by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return Parse(path, data)
}

// Parse decodes a profile file's bytes; path is only used in errors.
func Parse(path string, data []byte) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, fmt.Errorf("%w %s: %s: fix the YAML (key: value per line)", ErrMalformed, path, msg)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		d, ok := Lookup(k)
		if !ok || k == "profile" {
			return nil, fmt.Errorf("%w %q in %s: did you mean %q?", ErrUnknownKey, k, path, Closest(k))
		}
		text, err := scalarText(v)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %s: %v", ErrMalformed, path, k, err)
		}
		if _, err := parseValue(d, text); err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrMalformed, path, err)
		}
		out[k] = text
	}
	return out, nil
}

func scalarText(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, item := range x {
			t, err := scalarText(item)
			if err != nil {
				return "", err
			}
			parts = append(parts, t)
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("want a value, not a mapping")
	}
	return fmt.Sprint(v), nil
}

// Save writes a profile atomically with mode 0600 in a 0700 folder.
func (s *Store) Save(name string, values map[string]string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	for k, v := range values {
		d, ok := Lookup(k)
		if !ok || k == "profile" {
			return fmt.Errorf("%w %q: did you mean %q?", ErrUnknownKey, k, Closest(k))
		}
		if _, err := parseValue(d, v); err != nil {
			return err
		}
	}
	if err := s.ensureDirs(); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("# iotctl profile " + name + " (see 'iotctl help profiles')\n")
	for _, d := range Defs { // Defs order keeps files stable and readable
		if v, ok := values[d.Name]; ok {
			node, err := yaml.Marshal(map[string]string{d.Name: v})
			if err != nil {
				return err
			}
			buf.Write(node)
		}
	}
	return WriteFileAtomic(s.Path(name), buf.Bytes())
}

// Delete removes a profile, and the current selection if it named it.
func (s *Store) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := os.Remove(s.Path(name)); errors.Is(err, os.ErrNotExist) {
		_, err := s.Load(name)
		return err
	} else if err != nil {
		return err
	}
	if cur, _ := s.Current(); cur == name {
		return os.Remove(s.currentPath())
	}
	return nil
}

// Current returns the selected profile's name, or "".
func (s *Store) Current() (string, error) {
	data, err := os.ReadFile(s.currentPath())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// Use selects a profile as current.
func (s *Store) Use(name string) error {
	if _, err := s.Load(name); err != nil {
		return err
	}
	if err := s.ensureDirs(); err != nil {
		return err
	}
	return WriteFileAtomic(s.currentPath(), []byte(name+"\n"))
}

// ensureDirs creates the store's folders, private to the user.
func (s *Store) ensureDirs() error {
	for _, d := range []string{s.Dir, s.profilesDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// WriteFileAtomic writes data to a temp file beside path, syncs it, and
// renames it over path, so a failed write leaves the old file intact. The
// folder is created 0700 and the file is 0600.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Closest returns the setting name nearest to key by edit distance.
func Closest(key string) string {
	best, bestD := "", 1<<30
	for _, d := range Defs {
		if dist := editDistance(strings.ReplaceAll(key, "_", "-"), d.Name); dist < bestD {
			best, bestD = d.Name, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
