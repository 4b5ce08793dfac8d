package sub

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/iotctl/iotctl/pkg/esc"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
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

// JSONMessage is one line of -F json.
type JSONMessage struct {
	Topic         string      `json:"topic"`
	Payload       *string     `json:"payload,omitempty"`        // when valid UTF-8
	PayloadBase64 *string     `json:"payload_base64,omitempty"` // otherwise
	QoS           byte        `json:"qos"`
	Retain        bool        `json:"retain"`
	Properties    *Properties `json:"properties,omitempty"`
	ReceivedAt    string      `json:"received_at"` // RFC 3339, nanoseconds, UTC
}

// Properties are a message's MQTT 5 properties as -F json and templates
// show them; empty ones are left out of JSON.
type Properties struct {
	UserProperties  [][2]string `json:"user_properties,omitempty"` // [key, value] pairs in order
	ContentType     string      `json:"content_type,omitempty"`
	ResponseTopic   string      `json:"response_topic,omitempty"`
	CorrelationData []byte      `json:"correlation_data,omitempty"` // base64 in JSON
	MessageExpiry   *uint32     `json:"message_expiry,omitempty"`   // seconds left
	PayloadFormat   *byte       `json:"payload_format,omitempty"`   // 0 bytes, 1 UTF-8
	SubscriptionIDs []int       `json:"subscription_ids,omitempty"`
}

// User returns the value of the first user property named key, or "".
func (p *Properties) User(key string) string {
	if p == nil {
		return ""
	}
	for _, kv := range p.UserProperties {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

func newProperties(p *session.Properties) *Properties {
	if len(p.UserProperties) == 0 && p.ContentType == "" && p.ResponseTopic == "" && len(p.CorrelationData) == 0 &&
		p.MessageExpiry == nil && p.PayloadFormat == nil && len(p.SubscriptionIDs) == 0 {
		return nil
	}
	out := &Properties{
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
		MessageExpiry:   p.MessageExpiry,
		PayloadFormat:   p.PayloadFormat,
		SubscriptionIDs: p.SubscriptionIDs,
	}
	for _, up := range p.UserProperties {
		out.UserProperties = append(out.UserProperties, [2]string{up.Key, up.Value})
	}
	return out
}

type jsonFormat struct{}

func (jsonFormat) format(dst []byte, m *session.Message, at time.Time) ([]byte, error) {
	j := JSONMessage{
		Topic:      m.Topic,
		QoS:        m.QoS,
		Retain:     m.Retain,
		Properties: newProperties(&m.Props),
		ReceivedAt: at.UTC().Format(time.RFC3339Nano),
	}
	if utf8.Valid(m.Payload) {
		s := string(m.Payload)
		j.Payload = &s
	} else {
		s := base64.StdEncoding.EncodeToString(m.Payload)
		j.PayloadBase64 = &s
	}
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&j); err != nil {
		return dst, err
	}
	return b.Bytes(), nil
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
