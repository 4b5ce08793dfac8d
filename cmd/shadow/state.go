package shadow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/iotctl/iotctl/pkg/errs"
)

// maxStateInput bounds what --state-file and stdin may hold: twice the
// 128 KB an MQTT message to AWS IoT Core may carry (the service's 8 KB
// state limit is the service's to enforce, with 413).
const maxStateInput = 256 * 1024

// state builds the update's state node from the flags, checking the JSON
// before anything connects.
func (o *UpdateOptions) state(ctx context.Context) (json.RawMessage, error) {
	var whole []string
	if o.State != "" {
		whole = append(whole, "--state")
	}
	if o.StateFile != "" {
		whole = append(whole, "--state-file")
	}
	if o.Stdin {
		whole = append(whole, "-")
	}
	parts := o.Desired != "" || o.Reported != "" || o.ClearDesired
	switch {
	case len(whole) > 1:
		return nil, errs.Usagef("shadow update: %s and %s both give the state: give one", whole[0], whole[1])
	case len(whole) == 1 && parts:
		return nil, errs.Usagef("shadow update: %s gives the whole state: put desired and reported inside it, not in --desired, --reported or --clear-desired", whole[0])
	case o.Desired != "" && o.ClearDesired:
		return nil, errs.Usagef("shadow update: --desired and --clear-desired: give one (--desired null clears too)")
	case len(whole) == 0 && !parts:
		return nil, errs.Usagef("shadow update: nothing to update: give --desired, --reported, --clear-desired, --state, --state-file or - (stdin)")
	}
	if len(whole) == 1 {
		data, from, err := o.stateInput(ctx)
		if err != nil {
			return nil, err
		}
		return stateNode(from, data)
	}
	node := map[string]json.RawMessage{}
	if o.ClearDesired {
		node["desired"] = json.RawMessage("null")
	}
	for _, p := range []struct{ flag, key, value string }{{"--desired", "desired", o.Desired}, {"--reported", "reported", o.Reported}} {
		if p.value == "" {
			continue
		}
		v, err := objectOrNull(p.flag, []byte(p.value))
		if err != nil {
			return nil, err
		}
		node[p.key] = v
	}
	return json.Marshal(node)
}

// stateInput reads --state, --state-file or stdin; from names it.
func (o *UpdateOptions) stateInput(ctx context.Context) (data []byte, from string, err error) {
	switch {
	case o.State != "":
		return []byte(o.State), "--state", nil
	case o.StateFile != "":
		f, err := os.Open(o.StateFile)
		if err != nil {
			return nil, "", errs.Usagef("--state-file: %v: give a readable JSON file", err)
		}
		defer f.Close()
		data, err = readLimited(f)
		if err != nil {
			return nil, "", errs.Usagef("--state-file %s: %v", o.StateFile, err)
		}
		return data, "--state-file " + o.StateFile, nil
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readLimited(o.IO.In)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, "", errs.Usagef("read the state from stdin: %v", r.err)
		}
		return r.data, "the state on stdin", nil
	case <-ctx.Done():
		return nil, "", errs.New(errs.Interrupted, errors.New("interrupted while reading the state from stdin"))
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStateInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStateInput {
		return nil, fmt.Errorf("more than %d KiB: a shadow update is far smaller (the state's limit is 8 KB)", maxStateInput/1024)
	}
	return data, nil
}

// stateNode is the state node of a --state document: the document itself,
// or the "state" of a whole request or shadow document.
func stateNode(from string, data []byte) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := strictJSON(from, data, &top); err != nil {
		return nil, err
	}
	if top == nil {
		return nil, errs.Usagef("%s: the state must be a JSON object, like {\"desired\":{\"color\":\"red\"}}", from)
	}
	if inner, ok := top["state"]; ok {
		var obj map[string]json.RawMessage
		if json.Unmarshal(inner, &obj) != nil || obj == nil {
			return nil, errs.Usagef("%s: its \"state\" must be a JSON object, like {\"desired\":{\"color\":\"red\"}}", from)
		}
		return compactRaw(inner), nil
	}
	return compactRaw(data), nil
}

// objectOrNull checks a --desired or --reported value.
func objectOrNull(flag string, data []byte) (json.RawMessage, error) {
	var v any
	if err := strictJSON(flag, data, &v); err != nil {
		return nil, err
	}
	switch v.(type) {
	case nil, map[string]any:
		return compactRaw(data), nil
	}
	return nil, errs.Usagef("%s: want a JSON object like {\"color\":\"red\"} (or null), not %s", flag, kind(v))
}

// strictJSON decodes one JSON value, and nothing after it, into v.
func strictJSON(from string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("more after the JSON value")
		}
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return errs.Usagef("%s: the state must be a JSON object, not %s", from, te.Value)
	case err != nil:
		return errs.Usagef("%s: invalid JSON: %v: quote it for the shell, e.g. '{\"color\":\"red\"}'", from, err)
	}
	return nil
}

func compactRaw(data []byte) json.RawMessage {
	var b bytes.Buffer
	_ = json.Compact(&b, data)
	return b.Bytes()
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return "that"
}
