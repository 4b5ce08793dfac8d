package iot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/iotctl/iotctl/internal/atomicfile"
)

// ShadowSeed is a shadow the emulator starts with (--shadow THING[/NAME]=FILE):
// Doc is an update request body, {"state": {"desired": …, "reported": …}}.
// A shadow already in the state directory wins over its seed.
type ShadowSeed struct {
	Thing string
	Name  string // "" for the classic shadow
	Doc   []byte
}

// shadowStore keeps shadows as files in <state dir>/shadows: THING.json
// for a classic shadow, THING~NAME.json for a named one (':' written as
// %3A, for Windows), each written atomically.
type shadowStore struct {
	dir string
}

func (st *shadowStore) path(k shadowKey) string {
	enc := func(s string) string { return strings.ReplaceAll(s, ":", "%3A") }
	name := enc(k.thing)
	if k.name != "" {
		name += "~" + enc(k.name)
	}
	return filepath.Join(st.dir, name+".json")
}

// storedShadow is a shadow file.
type storedShadow struct {
	Thing string    `json:"thing"`
	Name  string    `json:"name,omitempty"`
	Doc   shadowDoc `json:"doc"`
}

func (st *shadowStore) save(k shadowKey, d *shadowDoc) error {
	b, err := json.MarshalIndent(storedShadow{Thing: k.thing, Name: k.name, Doc: *d}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(st.path(k), append(b, '\n'))
}

// load reads every shadow file.
func (st *shadowStore) load() (map[shadowKey]shadowDoc, error) {
	out := map[shadowKey]shadowDoc{}
	entries, err := os.ReadDir(st.dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(st.dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var s storedShadow
		d := json.NewDecoder(strings.NewReader(string(data)))
		d.UseNumber()
		if err := d.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s: %v: move it away or fix it", p, err)
		}
		k := shadowKey{thing: s.Thing, name: s.Name}
		if !validShadowName(k.thing, MaxThingNameBytes) || (k.name != "" && !validShadowName(k.name, MaxShadowNameBytes)) || st.path(k) != p {
			return nil, fmt.Errorf("%s: names thing %q shadow %q, which is not this file's: move it away or fix it", p, s.Thing, s.Name)
		}
		out[k] = s.Doc
	}
	return out, nil
}

// setupShadows loads the state directory and applies the seeds.
func (e *Emulator) setupShadows() error {
	s := newShadowService(e)
	e.shadows = s
	e.services = append(e.services, s)
	loaded := map[shadowKey]shadowDoc{}
	if e.cfg.StateDir != "" {
		s.store = &shadowStore{dir: filepath.Join(e.cfg.StateDir, "shadows")}
		if err := os.MkdirAll(s.store.dir, 0o700); err != nil {
			return fmt.Errorf("state directory: %v", err)
		}
		var err error
		if loaded, err = s.store.load(); err != nil {
			return fmt.Errorf("state directory: %v", err)
		}
	}
	for k, d := range loaded {
		s.shadows[k] = &shadow{doc: d}
	}
	now := e.cfg.Now().Unix()
	for _, seed := range e.cfg.Shadows {
		k := shadowKey{thing: seed.Thing, name: seed.Name}
		what := "shadow " + seed.Thing
		if seed.Name != "" {
			what += "/" + seed.Name
		}
		if !validShadowName(k.thing, MaxThingNameBytes) {
			return fmt.Errorf("%s: a thing name is 1 to %d characters of a-z A-Z 0-9 : _ -", what, MaxThingNameBytes)
		}
		if k.name != "" && !validShadowName(k.name, MaxShadowNameBytes) {
			return fmt.Errorf("%s: a shadow name is 1 to %d characters of a-z A-Z 0-9 : _ -", what, MaxShadowNameBytes)
		}
		req, rerr := parseShadowRequest(seed.Doc, true)
		if rerr != nil {
			return fmt.Errorf("%s: %s (want {\"state\": {\"desired\": {…}, \"reported\": {…}}})", what, rerr.message)
		}
		if _, dup := s.shadows[k]; dup {
			if _, kept := loaded[k]; kept {
				continue // the stored shadow wins
			}
			return fmt.Errorf("%s is given twice", what)
		}
		d := applyUpdate(&shadowDoc{Deleted: true}, req, now)
		if stateSize(d.Desired, d.Reported) > MaxShadowStateBytes {
			return fmt.Errorf("%s: desired and reported are over the %d bytes a shadow holds", what, MaxShadowStateBytes)
		}
		if s.store != nil {
			if err := s.store.save(k, &d); err != nil {
				return fmt.Errorf("%s: %v", what, err)
			}
		}
		s.shadows[k] = &shadow{doc: d}
	}
	return nil
}
