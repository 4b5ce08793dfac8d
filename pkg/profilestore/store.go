// Package profilestore keeps the profiles: one YAML file per profile in
// <dir>/profiles, the current selection in <dir>/current, every update
// under a lock and written atomically. Package profile defines the settings
// and resolves them; it reads profiles through its Profiles interface.
package profilestore

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/iotctl/iotctl/internal/atomicfile"
	"github.com/iotctl/iotctl/pkg/profile"
)

// nameRE is compiled at first use; the length (at most 64) is checked
// apart, see validName.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`) })

func validName(n string) bool { return len(n) <= 64 && nameRE().MatchString(n) }

// Store keeps profiles as one YAML file each, <dir>/profiles/<name>.yaml,
// and the current selection as the name in <dir>/current.
type Store struct {
	Dir string
	// Warn receives warnings such as a profile file readable by others.
	Warn func(string)
	// LockTimeout bounds the wait for another process's update (0:
	// DefaultLockTimeout).
	LockTimeout time.Duration
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

// ValidateName checks a profile name: lower-case letters, digits, - and _,
// and not a name Windows reserves for devices (con, nul, com1, …).
func ValidateName(name string) error {
	if !validName(name) {
		return fmt.Errorf("%w %q: use lower-case letters, digits, - and _ (at most 64, starting with a letter or digit)", profile.ErrInvalidName, name)
	}
	if reservedName(name) {
		return fmt.Errorf("%w %q: Windows reserves that name for a device; choose another", profile.ErrInvalidName, name)
	}
	return nil
}

func reservedName(name string) bool {
	switch name {
	case "con", "prn", "aux", "nul":
		return true
	}
	if len(name) == 4 && (strings.HasPrefix(name, "com") || strings.HasPrefix(name, "lpt")) {
		return name[3] >= '1' && name[3] <= '9'
	}
	return false
}

func (s *Store) profilesDir() string     { return filepath.Join(s.Dir, "profiles") }
func (s *Store) Path(name string) string { return filepath.Join(s.profilesDir(), name+".yaml") }
func (s *Store) currentPath() string     { return s.CurrentPath() }

// CurrentPath is the selection file, <dir>/current.
func (s *Store) CurrentPath() string { return filepath.Join(s.Dir, "current") }
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
		return nil, s.readErr(err)
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".yaml")
		if ok && !e.IsDir() && validName(n) {
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
		return nil, fmt.Errorf("%w: %q (%s)", profile.ErrNotFound, name, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", path, err)
	}
	// Windows reports every file as 0666: its ACLs are not mode bits.
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		s.warn("profile file %s is readable by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return Parse(path, data)
}

// Parse decodes a profile file's bytes; path is only used in errors. Keys may
// be spelled with underscores (ca_file); the result uses canonical names.
func Parse(path string, data []byte) (map[string]string, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, fmt.Errorf("%w %s: %s: fix the YAML (key: value per line)", profile.ErrMalformed, path, msg)
	}
	out := make(map[string]string, len(raw))
	spelled := make(map[string]string, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		d, ok := profile.Lookup(profile.NormalizeKey(k))
		if !ok {
			return nil, fmt.Errorf("%w %q in %s: did you mean %q?", profile.ErrUnknownKey, k, path, profile.Closest(k))
		}
		if other, dup := spelled[d.Name]; dup {
			return nil, fmt.Errorf("%w %s: %q and %q are the same setting: keep one", profile.ErrMalformed, path, other, k)
		}
		spelled[d.Name] = k
		text, err := scalarText(raw[k])
		if err != nil {
			return nil, fmt.Errorf("%w %s: %s: %v", profile.ErrMalformed, path, k, err)
		}
		if err := profile.ValidateValue(d.Name, text); err != nil {
			return nil, fmt.Errorf("%w %s: %w", profile.ErrMalformed, path, err)
		}
		out[d.Name] = text
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
	canon, err := canonical(values)
	if err != nil {
		return err
	}
	return s.locked(func() error {
		doc := newDoc(name)
		setKeys(doc.Content[0], canon)
		return s.writeDoc(name, doc)
	})
}

// ErrExists is Create's error for a profile that exists.
var ErrExists = errors.New("profile exists")

// Create is Save for a new profile only: one that exists, also one made
// by another process meanwhile (checked under the lock), is left alone and
// the error wraps ErrExists.
func (s *Store) Create(name string, values map[string]string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	canon, err := canonical(values)
	if err != nil {
		return err
	}
	return s.locked(func() error {
		if _, err := os.Lstat(s.Path(name)); err == nil {
			return fmt.Errorf("%w: %s (%s)", ErrExists, name, s.Path(name))
		}
		doc := newDoc(name)
		setKeys(doc.Content[0], canon)
		return s.writeDoc(name, doc)
	})
}

// Set stores values in a profile, creating it when missing. Keys may use any
// accepted spelling; values are checked. Other keys, their order and the
// file's comments are kept. It reports whether the profile was created.
func (s *Store) Set(name string, values map[string]string) (created bool, err error) {
	if err := ValidateName(name); err != nil {
		return false, err
	}
	canon, err := canonical(values)
	if err != nil {
		return false, err
	}
	err = s.locked(func() error {
		doc, err := s.loadDoc(name, true)
		if errors.Is(err, profile.ErrNotFound) {
			doc, created = newDoc(name), true
		} else if err != nil {
			return err
		}
		setKeys(doc.Content[0], canon)
		return s.writeDoc(name, doc)
	})
	return created, err
}

// Unset removes settings from a profile and returns the canonical names of
// those that were set. A key the file holds is removed even when it is not a
// known setting, so a profile with a misspelt key can be repaired.
func (s *Store) Unset(name string, keys []string) (removed []string, err error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	err = s.locked(func() error {
		removed, err = s.unset(name, keys)
		return err
	})
	return removed, err
}

func (s *Store) unset(name string, keys []string) (removed []string, err error) {
	doc, err := s.loadDoc(name, false)
	if err != nil {
		return nil, err
	}
	m := doc.Content[0]
	for _, key := range keys {
		want := profile.NormalizeKey(key)
		if d, ok := profile.Lookup(want); ok {
			want = d.Name
		}
		found := false
		for i := 0; i < len(m.Content); i += 2 {
			if profile.NormalizeKey(m.Content[i].Value) == want {
				m.Content = slices.Delete(m.Content, i, i+2)
				i -= 2
				found = true
			}
		}
		if found {
			removed = append(removed, want)
			continue
		}
		if _, err := profile.LookupKey(key); err != nil {
			return nil, err
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, s.writeDoc(name, doc)
}

// canonical checks keys and values and returns them by canonical name.
func canonical(values map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		d, err := profile.LookupKey(k)
		if err != nil {
			return nil, err
		}
		if err := profile.ValidateValue(d.Name, values[k]); err != nil {
			return nil, err
		}
		out[d.Name] = values[k]
	}
	return out, nil
}

// loadDoc reads a profile as a YAML node tree, so edits keep comments.
// strict also requires the file to be a valid profile; Unset is not strict,
// so it can remove a misspelt key.
func (s *Store) loadDoc(name string, strict bool) (*yaml.Node, error) {
	if strict {
		if _, err := s.Load(name); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(s.Path(name))
	if errors.Is(err, os.ErrNotExist) {
		_, err = s.Load(name) // the not-found error with its hint
	}
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w %s: %v", profile.ErrMalformed, s.Path(name), err)
	}
	if doc.Kind == 0 { // empty file or comments only
		head := doc.HeadComment
		doc = *newDoc(name)
		if head != "" {
			doc.HeadComment = head
		}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w %s: want key: value lines", profile.ErrMalformed, s.Path(name))
	}
	return &doc, nil
}

func newDoc(name string) *yaml.Node {
	return &yaml.Node{
		Kind:        yaml.DocumentNode,
		HeadComment: "iotctl profile " + name + " (see 'iotctl help profiles')",
		Content:     []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}},
	}
}

// setKeys replaces or appends values in a mapping node; new keys go at the
// end in Defs order, so files stay stable and readable.
func setKeys(m *yaml.Node, values map[string]string) {
	for _, d := range profile.Defs {
		text, ok := values[d.Name]
		if !ok {
			continue
		}
		val := valueNode(d, text)
		replaced := false
		for i := 0; i < len(m.Content); i += 2 {
			if profile.NormalizeKey(m.Content[i].Value) != d.Name {
				continue
			}
			if replaced { // a second spelling of the same key
				m.Content = slices.Delete(m.Content, i, i+2)
				i -= 2
				continue
			}
			val.LineComment = m.Content[i+1].LineComment
			m.Content[i].Value = d.Name
			m.Content[i+1] = val
			replaced = true
		}
		if !replaced {
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: d.Name}
			m.Content = append(m.Content, key, val)
		}
	}
}

// valueNode encodes numbers and booleans bare and everything else as a
// string, quoted when YAML would read it as something else.
func valueNode(d profile.Def, text string) *yaml.Node {
	var v any = text
	switch d.Type {
	case profile.Int:
		if n, err := strconv.Atoi(text); err == nil {
			v = n
		}
	case profile.Bool:
		if b, err := strconv.ParseBool(text); err == nil {
			v = b
		}
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text, Style: yaml.DoubleQuotedStyle}
	}
	return &n
}

func (s *Store) writeDoc(name string, doc *yaml.Node) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return atomicfile.Write(s.Path(name), buf.Bytes())
}

// Delete removes a profile, and the current selection if it named it.
func (s *Store) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return s.locked(func() error {
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
	})
}

// Current returns the selected profile's name, or "".
func (s *Store) Current() (string, error) {
	data, err := os.ReadFile(s.currentPath())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", s.readErr(err)
	}
	return strings.TrimSpace(string(data)), nil
}

// Use selects a profile as current.
func (s *Store) Use(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return s.locked(func() error {
		if _, err := s.Load(name); err != nil {
			return err
		}
		return atomicfile.Write(s.currentPath(), []byte(name+"\n"))
	})
}

// ClearCurrent removes the selection, so no profile is used unless
// --profile or IOTCTL_PROFILE names one. It reports the name that was
// selected ("" for none).
func (s *Store) ClearCurrent() (was string, err error) {
	if _, err := os.Stat(s.currentPath()); errors.Is(err, os.ErrNotExist) {
		return "", nil // nothing to clear: leave the folder uncreated
	}
	err = s.locked(func() error {
		was, _ = s.Current()
		if err := os.Remove(s.currentPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
	return was, err
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
