package sub

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/cmd/shared"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/session"
)

// formatter appends one message's output to dst.
type formatter interface {
	format(dst []byte, m *session.Message, at time.Time) ([]byte, error)
}

// newFormatter picks the output: -F wins, then -o json (which means -F
// json), then -v, then raw.
func newFormatter(format string, verbose, noNewline bool, output string) (formatter, error) {
	switch {
	case format == "raw":
		return rawFormat{newline: !noNewline}, nil
	case format == "json":
		return jsonFormat{}, nil
	case format != "":
		return newTemplateFormat(format, !noNewline)
	case output == "json":
		return jsonFormat{}, nil
	case verbose:
		return rawFormat{topic: true, newline: !noNewline}, nil
	}
	return rawFormat{newline: !noNewline}, nil
}

func isRaw(f formatter) bool {
	_, ok := f.(rawFormat)
	return ok
}

// rawFormat writes the payload bytes unchanged, after "topic " with -v
// (the topic with control characters escaped: it is text for a terminal).
// With --encoding hex or base64 the payload is printed encoded.
type rawFormat struct {
	topic, newline bool
	enc            cmdutil.Encoding
}

func (f rawFormat) format(dst []byte, m *session.Message, _ time.Time) ([]byte, error) {
	if f.topic {
		dst = append(dst, esc.String(m.Topic)...)
		dst = append(dst, ' ')
	}
	dst = f.enc.Encode(dst, m.Payload)
	if f.newline {
		dst = append(dst, '\n')
	}
	return dst, nil
}

// parts is what format appends, as slices: the payload is not copied (a
// large message is written from them).
func (f rawFormat) parts(m *session.Message) [][]byte {
	var prefix, suffix []byte
	if f.topic {
		prefix = append([]byte(esc.String(m.Topic)), ' ')
	}
	if f.newline {
		suffix = []byte{'\n'}
	}
	return [][]byte{prefix, m.Payload, suffix}
}

// JSONMessage is one line of -F json (the shape req -o json shares).
type JSONMessage = shared.JSONMessage

// Properties are a message's MQTT 5 properties as -F json and templates
// show them.
type Properties = shared.MessageProperties

func newProperties(p *session.Properties) *Properties { return shared.NewMessageProperties(p) }

type jsonFormat struct{}

func (jsonFormat) format(dst []byte, m *session.Message, at time.Time) ([]byte, error) {
	return shared.AppendJSONMessage(dst, m, at)
}

// TemplateMessage is what a -F '<Go template>' gets.
type TemplateMessage struct {
	Topic         string
	Payload       string // the payload bytes as a string, unchanged
	PayloadBase64 string
	QoS           byte
	Retain        bool
	Properties    *Properties // never nil in a template
	ReceivedAt    time.Time
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
	"base64": func(v any) (string, error) {
		b, err := bytesOf(v)
		return base64.StdEncoding.EncodeToString(b), err
	},
	"hex": func(v any) (string, error) {
		b, err := bytesOf(v)
		return hex.EncodeToString(b), err
	},
}

func bytesOf(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("want a string or bytes, got %T", v)
}

type templateFormat struct {
	t       *template.Template
	newline bool
}

func newTemplateFormat(text string, newline bool) (formatter, error) {
	if !strings.Contains(text, "{{") && strings.Contains(text, "%") {
		return nil, errs.Usagef("-F %q looks like a mosquitto_sub format: iotctl takes raw, json or a Go template, e.g. -F '{{.Topic}} {{.Payload}}'", text)
	}
	t, err := template.New("format").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, errs.Usagef("-F: bad template: %v: see 'iotctl sub --help' for the fields", err)
	}
	f := templateFormat{t: t, newline: newline}
	// Field names are checked when the template runs: try it once now so a
	// typo is a usage error before connecting, not a failure mid-stream.
	sample := &session.Message{Topic: "t", Payload: []byte("p")}
	if _, err := f.format(nil, sample, time.Now()); err != nil {
		return nil, errs.Usagef("-F: bad template: %v: see 'iotctl sub --help' for the fields", err)
	}
	return f, nil
}

func (f templateFormat) format(dst []byte, m *session.Message, at time.Time) ([]byte, error) {
	props := newProperties(&m.Props)
	if props == nil {
		props = &Properties{}
	}
	data := TemplateMessage{
		Topic:         esc.String(m.Topic), // text output: no terminal escapes from the broker
		Payload:       string(m.Payload),
		PayloadBase64: base64.StdEncoding.EncodeToString(m.Payload),
		QoS:           m.QoS,
		Retain:        m.Retain,
		Properties:    props,
		ReceivedAt:    at,
	}
	b := bytes.NewBuffer(dst)
	if err := f.t.Execute(b, &data); err != nil {
		return dst, err
	}
	if f.newline {
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// withEncoding applies --encoding to raw output; other formats have their
// own ways (json: payload_base64; templates: hex, base64).
func withEncoding(fm formatter, s string) (formatter, error) {
	enc, err := cmdutil.ParseEncoding(s)
	if err != nil || enc == "" {
		return fm, err
	}
	raw, ok := fm.(rawFormat)
	if !ok {
		return nil, errs.Usagef("--encoding %s is for raw output: -F json has payload_base64, and templates the functions hex and base64", enc)
	}
	raw.enc = enc
	return raw, nil
}
