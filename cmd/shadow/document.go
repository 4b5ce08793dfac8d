package shadow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/esc"
)

// document is an accepted answer as printed: the service's fields in the
// documented order, without the clientToken this run made up.
type document struct {
	State     json.RawMessage `json:"state,omitempty"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	Version   *int64          `json:"version,omitempty"`
	Timestamp *int64          `json:"timestamp,omitempty"`
}

// printDocument prints an accepted answer: JSON, or the readable form
// headed by title.
func printDocument(w io.Writer, asJSON bool, payload []byte, title string) error {
	var doc document
	if err := json.Unmarshal(payload, &doc); err != nil {
		return fmt.Errorf("the service's answer is not a shadow document: %v", err)
	}
	if asJSON {
		return cmdutil.WriteJSON(w, &doc)
	}
	var b bytes.Buffer
	b.WriteString(title + "\n")
	if doc.Version != nil {
		fmt.Fprintf(&b, "  version    %d\n", *doc.Version)
	}
	if doc.Timestamp != nil {
		fmt.Fprintf(&b, "  timestamp  %s\n", stamp(*doc.Timestamp))
	}
	var state map[string]json.RawMessage
	_ = json.Unmarshal(doc.State, &state)
	for _, section := range []string{"desired", "reported", "delta"} {
		raw, ok := state[section]
		if !ok {
			continue
		}
		lines := flatten(raw)
		if len(lines) == 0 || string(raw) == "null" {
			fmt.Fprintf(&b, "  %-10s %s\n", section, compact(raw))
			continue
		}
		fmt.Fprintf(&b, "  %s\n", section)
		for _, l := range lines {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// stamp is a shadow timestamp (Unix seconds) in RFC 3339, UTC.
func stamp(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// flatten lists an object's leaves as "a.b = value" (values as compact
// JSON; arrays whole, as the service compares them), escaped for the
// terminal. A non-object gives nothing.
func flatten(raw json.RawMessage) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil
	}
	var out []string
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := flatten(obj[k])
		if len(sub) == 0 {
			out = append(out, esc.String(k)+" = "+compact(obj[k]))
			continue
		}
		for _, s := range sub {
			out = append(out, esc.String(k)+"."+s)
		}
	}
	return out
}

// compact is raw JSON on one line, escaped for the terminal.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return esc.String(string(raw))
	}
	return esc.String(strings.TrimSpace(b.String()))
}
