package iot

import (
	"encoding/json"
	"errors"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Fleet provisioning's …/cbor topics carry the same documents as the JSON
// ones in CBOR (RFC 8949), through fxamacker/cbor: requests are decoded to
// JSON for the JSON handlers, answers encoded from the same bodies.

// cborMaxDepth bounds nesting in a request.
const cborMaxDepth = 16

var errCBOR = errors.New("not a CBOR document the service reads")

// cborModes are made on first use: nothing is done at start-up for a
// command that never meets CBOR.
var cborModes = sync.OnceValues(func() (cbor.DecMode, cbor.EncMode) {
	dec, err := cbor.DecOptions{
		MaxNestedLevels: cborMaxDepth,
		DupMapKey:       cbor.DupMapKeyEnforcedAPF,
		IndefLength:     cbor.IndefLengthForbidden,
		DefaultMapType:  reflect.TypeOf(map[string]any(nil)),
		// A byte string is read as text, as the JSON handlers expect.
		DefaultByteStringType: reflect.TypeOf(""),
		MaxArrayElements:      1 << 16,
		MaxMapPairs:           1 << 16,
	}.DecMode()
	if err != nil {
		panic(err) // the options are constant
	}
	enc, err := cbor.EncOptions{Sort: cbor.SortCanonical}.EncMode()
	if err != nil {
		panic(err)
	}
	return dec, enc
})

// cborToJSON decodes one CBOR data item (the whole payload) to JSON; maps
// must have text keys.
func cborToJSON(b []byte) ([]byte, error) {
	dec, _ := cborModes()
	var v any
	if err := dec.Unmarshal(b, &v); err != nil {
		return nil, errCBOR
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, errCBOR
	}
	return js, nil
}

// cborEncode encodes an answer body, map keys in canonical order; JSON
// numbers are numbers.
func cborEncode(v any) ([]byte, error) {
	_, enc := cborModes()
	return enc.Marshal(numbers(v))
}

// numbers turns the json.Numbers of a decoded JSON value into int64 or
// float64.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = numbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = numbers(e)
		}
		return out
	}
	return v
}
