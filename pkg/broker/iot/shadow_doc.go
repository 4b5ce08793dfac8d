package iot

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"unicode/utf8"
)

// The Device Shadow service's limits and messages (AWS IoT Core developer
// guide, "Device Shadow error messages" and the service quotas).
const (
	MaxShadowStateBytes  = 8 * 1024 // desired + reported, metadata not counted
	MaxShadowDepth       = 6        // nesting levels inside desired and reported
	MaxShadowClientToken = 64       // bytes
	MaxThingNameBytes    = 128
	MaxShadowNameBytes   = 64
)

// shadowError is a rejection: the body of …/rejected.
type shadowError struct {
	code    int
	message string
}

func (e *shadowError) Error() string { return e.message }

var (
	errInvalidJSON     = &shadowError{400, "Invalid JSON"}
	errMissingState    = &shadowError{400, "Missing required node: state"}
	errStateNotObject  = &shadowError{400, "State node must be an object"}
	errDesiredNotObj   = &shadowError{400, "Desired node must be an object"}
	errReportedNotObj  = &shadowError{400, "Reported node must be an object"}
	errInvalidVersion  = &shadowError{400, "Invalid version"}
	errInvalidToken    = &shadowError{400, "Invalid clientToken"}
	errTooDeep         = &shadowError{400, "JSON contains too many levels of nesting; maximum is 6"}
	errInvalidNode     = &shadowError{400, "State contains an invalid node"}
	errVersionConflict = &shadowError{409, "Version conflict"}
	errTooLarge        = &shadowError{413, "The payload exceeds the maximum size allowed"}
	errUnsupportedEnc  = &shadowError{415, "Unsupported documented encoding; supported encoding is UTF-8"}
	errInternal        = &shadowError{500, "Internal service failure"}
)

// shadowRequest is a parsed request body. State is nil for get and delete.
type shadowRequest struct {
	clientToken string
	hasToken    bool
	version     int64
	hasVersion  bool
	// desired and reported as sent: absent (has* false), null (nil map
	// with has* true) or an object.
	desired, reported       map[string]any
	hasDesired, hasReported bool
}

// parseShadowRequest reads a request body. withState: an update, which
// needs a state node. An empty body is an empty request (get, delete).
func parseShadowRequest(payload []byte, withState bool) (*shadowRequest, *shadowError) {
	req := &shadowRequest{}
	if !utf8.Valid(payload) {
		return req, errUnsupportedEnc
	}
	if len(bytes.TrimSpace(payload)) == 0 && !withState {
		return req, nil
	}
	v, err := decodeJSON(payload)
	if err != nil {
		return req, errInvalidJSON
	}
	top, ok := v.(map[string]any)
	if !ok {
		return req, errInvalidJSON
	}
	// The client token first, so that a rejection can echo it.
	if t, ok := top["clientToken"]; ok {
		s, isString := t.(string)
		if !isString || len(s) > MaxShadowClientToken {
			return req, errInvalidToken
		}
		req.clientToken, req.hasToken = s, true
	}
	if ver, ok := top["version"]; ok {
		n, isNum := ver.(json.Number)
		i, err := n.Int64()
		if !isNum || err != nil || i < 0 {
			return req, errInvalidVersion
		}
		req.version, req.hasVersion = i, true
	}
	if !withState {
		return req, nil
	}
	st, ok := top["state"]
	if !ok {
		return req, errMissingState
	}
	state, ok := st.(map[string]any)
	if !ok {
		return req, errStateNotObject
	}
	for k, v := range state {
		switch k {
		case "desired", "reported":
		default:
			return req, errInvalidNode
		}
		var m map[string]any
		if v != nil {
			if m, ok = v.(map[string]any); !ok {
				if k == "desired" {
					return req, errDesiredNotObj
				}
				return req, errReportedNotObj
			}
			if depth(m) > MaxShadowDepth {
				return req, errTooDeep
			}
		}
		if k == "desired" {
			req.desired, req.hasDesired = m, true
		} else {
			req.reported, req.hasReported = m, true
		}
	}
	return req, nil
}

// decodeJSON decodes one JSON value, numbers kept as written.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// depth is the nesting depth of a value: 1 for an object of scalars.
func depth(v any) int {
	switch x := v.(type) {
	case map[string]any:
		d := 0
		for _, c := range x {
			d = max(d, depth(c))
		}
		return d + 1
	case []any:
		d := 0
		for _, c := range x {
			d = max(d, depth(c))
		}
		return d + 1
	}
	return 0
}

// shadowDoc is one shadow as the service stores it.
type shadowDoc struct {
	Desired      map[string]any `json:"desired,omitempty"`
	Reported     map[string]any `json:"reported,omitempty"`
	MetaDesired  map[string]any `json:"metaDesired,omitempty"`
	MetaReported map[string]any `json:"metaReported,omitempty"`
	Version      int64          `json:"version"`
	// Deleted: the shadow was deleted (or never existed); Version is the
	// last one, which a new shadow of the same name continues.
	Deleted bool `json:"deleted,omitempty"`
}

// merge applies an update section to state and its metadata: null
// deletes a key, objects merge recursively, anything else (arrays
// included) replaces. It returns the new maps; nil when empty.
func merge(state, meta, update map[string]any, ts int64) (map[string]any, map[string]any) {
	if state == nil {
		state = map[string]any{}
	}
	if meta == nil {
		meta = map[string]any{}
	}
	for k, v := range update {
		switch nv := v.(type) {
		case nil:
			delete(state, k)
			delete(meta, k)
		case map[string]any:
			old, _ := state[k].(map[string]any)
			oldMeta, _ := meta[k].(map[string]any)
			if old == nil {
				oldMeta = nil
			}
			s, m := merge(old, oldMeta, nv, ts)
			if s == nil {
				s, m = map[string]any{}, map[string]any{}
			}
			state[k], meta[k] = s, m
		default:
			state[k] = copyValue(nv)
			meta[k] = metaOf(nv, ts)
		}
	}
	if len(state) == 0 {
		return nil, nil
	}
	return state, meta
}

// metaOf is the metadata of a value set at ts: {"timestamp": ts} for a
// scalar, the same shape for objects and arrays.
func metaOf(v any, ts int64) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, c := range x {
			if c != nil {
				m[k] = metaOf(c, ts)
			}
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = metaOf(c, ts)
		}
		return a
	}
	return map[string]any{"timestamp": ts}
}

// requestMeta is the metadata of an update section as update/accepted
// shows it: every field of the request, nulls included.
func requestMeta(update map[string]any, ts int64) map[string]any {
	m := map[string]any{}
	for k, v := range update {
		if o, ok := v.(map[string]any); ok {
			m[k] = requestMeta(o, ts)
			continue
		}
		m[k] = metaOf(v, ts)
	}
	return m
}

// copyValue copies a decoded JSON value deeply.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = copyValue(c)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = copyValue(c)
		}
		return a
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return copyValue(m).(map[string]any)
}

// delta is what desired has that reported lacks or has otherwise: nested
// objects compared key by key, everything else (arrays included) whole.
// nil when there is no difference.
func delta(desired, reported map[string]any) map[string]any {
	d := map[string]any{}
	for k, dv := range desired {
		rv, ok := reported[k]
		dm, dIsObj := dv.(map[string]any)
		rm, rIsObj := rv.(map[string]any)
		switch {
		case !ok:
			d[k] = copyValue(dv)
		case dIsObj && rIsObj:
			if sub := delta(dm, rm); sub != nil {
				d[k] = sub
			}
		case !equalJSON(dv, rv):
			d[k] = copyValue(dv)
		}
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

// deltaMeta is the metadata of a delta: the desired metadata of its fields.
func deltaMeta(d, metaDesired map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range d {
		if o, ok := v.(map[string]any); ok {
			sub, _ := metaDesired[k].(map[string]any)
			m[k] = deltaMeta(o, sub)
			continue
		}
		m[k] = metaDesired[k]
	}
	return m
}

// restrict keeps the parts of d whose paths the update touched.
func restrict(d map[string]any, touched []map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		var subs []map[string]any
		whole := false
		for _, t := range touched {
			tv, ok := t[k]
			if !ok {
				continue
			}
			if tm, isObj := tv.(map[string]any); isObj {
				subs = append(subs, tm)
			} else {
				whole = true
			}
		}
		vm, isObj := v.(map[string]any)
		switch {
		case whole || (len(subs) > 0 && !isObj):
			out[k] = v
		case len(subs) > 0:
			if r := restrict(vm, subs); len(r) > 0 {
				out[k] = r
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// equalJSON compares decoded JSON values; numbers by value.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, e1 := x.Float64()
		fy, e2 := y.Float64()
		return e1 == nil && e2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// stateSize is the size the 8 KB limit counts: desired and reported.
func stateSize(desired, reported map[string]any) int {
	n := 0
	for _, m := range []map[string]any{desired, reported} {
		if m != nil {
			b, _ := json.Marshal(m)
			n += len(b)
		}
	}
	return n
}
