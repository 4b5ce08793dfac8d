package iot

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Fleet provisioning's …/cbor topics carry the same documents as the JSON
// ones in CBOR (RFC 8949). The documents are small maps of strings and
// numbers, so the emulator's codec covers that much: requests are decoded
// to JSON for the JSON handlers, answers encoded from the same bodies.

// cborMaxDepth bounds nesting in a request.
const cborMaxDepth = 16

var errCBOR = errors.New("not a CBOR document the service reads")

// cborToJSON decodes one CBOR data item (the whole payload) to JSON.
func cborToJSON(b []byte) ([]byte, error) {
	d := cborDecoder{b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.i != len(b) {
		return nil, errCBOR
	}
	return json.Marshal(v)
}

type cborDecoder struct {
	b []byte
	i int
}

// head reads an item's major type and argument (definite lengths only).
func (d *cborDecoder) head() (major byte, arg uint64, info byte, err error) {
	if d.i >= len(d.b) {
		return 0, 0, 0, errCBOR
	}
	c := d.b[d.i]
	d.i++
	major, info = c>>5, c&0x1f
	var n int
	switch {
	case info < 24:
		return major, uint64(info), info, nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default:
		return 0, 0, 0, errCBOR // indefinite lengths and reserved values
	}
	if len(d.b)-d.i < n {
		return 0, 0, 0, errCBOR
	}
	for _, x := range d.b[d.i : d.i+n] {
		arg = arg<<8 | uint64(x)
	}
	d.i += n
	return major, arg, info, nil
}

func (d *cborDecoder) value(depth int) (any, error) {
	if depth > cborMaxDepth {
		return nil, errCBOR
	}
	major, arg, info, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case 0:
		return json.Number(fmt.Sprint(arg)), nil
	case 1:
		if arg > math.MaxInt64 {
			return nil, errCBOR
		}
		return json.Number(fmt.Sprint(-1 - int64(arg))), nil
	case 2, 3:
		if arg > uint64(len(d.b)-d.i) {
			return nil, errCBOR
		}
		s := string(d.b[d.i : d.i+int(arg)])
		d.i += int(arg)
		return s, nil
	case 4:
		if arg > uint64(len(d.b)-d.i) {
			return nil, errCBOR
		}
		out := make([]any, 0, arg)
		for range arg {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case 5:
		if arg > uint64(len(d.b)-d.i) {
			return nil, errCBOR
		}
		out := make(map[string]any, arg)
		for range arg {
			k, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, errCBOR
			}
			if out[ks], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case 6: // a tag: its content stands
		return d.value(depth + 1)
	}
	switch info { // major 7
	case 20:
		return false, nil
	case 21:
		return true, nil
	case 22, 23:
		return nil, nil
	case 25:
		return float16(uint16(arg)), nil
	case 26:
		return float64(math.Float32frombits(uint32(arg))), nil
	case 27:
		return math.Float64frombits(arg), nil
	}
	return nil, errCBOR
}

func float16(h uint16) float64 {
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	var v float64
	switch exp {
	case 0:
		v = math.Ldexp(frac, -24)
	case 31:
		v = math.Inf(1)
		if frac != 0 {
			v = math.NaN()
		}
	default:
		v = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// cborEncode encodes an answer body: maps with string keys (in sorted
// order), lists, strings, numbers, booleans and null.
func cborEncode(v any) ([]byte, error) {
	var b []byte
	var enc func(any) error
	head := func(major byte, n uint64) {
		switch {
		case n < 24:
			b = append(b, major<<5|byte(n))
		case n <= math.MaxUint8:
			b = append(b, major<<5|24, byte(n))
		case n <= math.MaxUint16:
			b = binary.BigEndian.AppendUint16(append(b, major<<5|25), uint16(n))
		case n <= math.MaxUint32:
			b = binary.BigEndian.AppendUint32(append(b, major<<5|26), uint32(n))
		default:
			b = binary.BigEndian.AppendUint64(append(b, major<<5|27), n)
		}
	}
	integer := func(i int64) {
		if i < 0 {
			head(1, uint64(-1-i))
		} else {
			head(0, uint64(i))
		}
	}
	enc = func(v any) error {
		switch x := v.(type) {
		case nil:
			b = append(b, 0xf6)
		case bool:
			if x {
				b = append(b, 0xf5)
			} else {
				b = append(b, 0xf4)
			}
		case string:
			head(3, uint64(len(x)))
			b = append(b, x...)
		case int:
			integer(int64(x))
		case int64:
			integer(x)
		case json.Number:
			if i, err := x.Int64(); err == nil {
				integer(i)
				return nil
			}
			f, err := x.Float64()
			if err != nil {
				return err
			}
			return enc(f)
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				integer(int64(x))
				return nil
			}
			b = binary.BigEndian.AppendUint64(append(b, 0xfb), math.Float64bits(x))
		case []any:
			head(4, uint64(len(x)))
			for _, e := range x {
				if err := enc(e); err != nil {
					return err
				}
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			head(5, uint64(len(x)))
			for _, k := range keys {
				head(3, uint64(len(k)))
				b = append(b, k...)
				if err := enc(x[k]); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("CBOR: cannot encode %T", v)
		}
		return nil
	}
	if err := enc(v); err != nil {
		return nil, err
	}
	return b, nil
}
