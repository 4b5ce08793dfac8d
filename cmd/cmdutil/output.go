package cmdutil

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
)

// Output formats of -o/--output.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Output is the one place that decides between text and JSON for a
// command's result (-o/--output). Every command that prints a result
// prints it through Print (one document) or Stream (one object per line),
// so all JSON agrees:
//
//   - one document, indented two spaces, ending in a newline;
//   - snake_case names that do not change between releases;
//   - counts and sizes are JSON numbers, flags are booleans;
//   - a duration that is a setting (one you could pass back as a flag) is a
//     string in the flag's syntax ("10s", "1m30s"); a measured time is a
//     number whose name carries the unit (elapsed_ms, connect_latency_ms);
//   - HTML characters are not escaped (a custom-auth username keeps its &).
type Output struct {
	// Format is "text" (or "") or "json".
	Format string
}

// JSON reports whether the result is printed as JSON.
func (o Output) JSON() bool { return o.Format == FormatJSON }

// Print writes v as one JSON document under -o json, else calls text.
// text may be nil when the command prints nothing in text mode.
func (o Output) Print(w io.Writer, v any, text func(io.Writer) error) error {
	if o.JSON() {
		return WriteJSON(w, v)
	}
	if text == nil {
		return nil
	}
	return text(w)
}

// WriteJSON writes v as one indented JSON document in a single Write, so a
// failing output never leaves half a document behind a good one.
func WriteJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Stream returns a writer of JSON lines on w: one compact object per line,
// for results that arrive over time (broker listeners).
func (o Output) Stream(w io.Writer) *Stream { return &Stream{w: w} }

// Stream writes one compact JSON object per line; safe for concurrent use.
type Stream struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes v as one line.
func (s *Stream) Write(v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(b.Bytes())
	return err
}
