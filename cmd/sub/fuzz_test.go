package sub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/session"
)

// FuzzFormatJSON formats messages with any payload bytes, topic and
// properties as -F json and as a template using json: each must be one line
// of valid JSON, and -F json must give the payload back byte for byte
// (payload when UTF-8, payload_base64 otherwise).
func FuzzFormatJSON(f *testing.F) {
	f.Add([]byte("hello"), "a/b", "k", "v", "text/plain", []byte{0, 1})
	f.Add([]byte{0xff, 0xfe, 0x00, '\n', '"', '\\'}, "t/\xff", "\x00", "\u2028", "", []byte(nil))
	f.Add([]byte("<&>\u2028\u2029"), "", "", "", "\xc3", []byte("corr"))
	f.Add([]byte{}, "$aws/things/x", "k=v", "=", "application/json", []byte{0xff})
	tmpl, err := newTemplateFormat(`{{json .}}`, true)
	if err != nil {
		f.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 1, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte, topic, key, value, contentType string, corr []byte) {
		m := &session.Message{Topic: topic, Payload: payload, QoS: 1, Props: session.Properties{
			UserProperties:  []session.UserProperty{{Key: key, Value: value}},
			ContentType:     contentType,
			CorrelationData: corr,
		}}
		out, err := jsonFormat{}.format(nil, m, at)
		if err != nil {
			t.Fatalf("-F json failed: %v", err)
		}
		line := oneLine(t, out)
		var j JSONMessage
		if err := json.Unmarshal(line, &j); err != nil {
			t.Fatalf("-F json is not valid JSON: %v\n%q", err, line)
		}
		var got []byte
		switch {
		case j.Payload != nil && j.PayloadBase64 == nil:
			if !utf8.Valid(payload) {
				t.Fatalf("payload %q is not UTF-8 but came out as text", payload)
			}
			got = []byte(*j.Payload)
		case j.PayloadBase64 != nil && j.Payload == nil:
			if got, err = base64.StdEncoding.DecodeString(*j.PayloadBase64); err != nil {
				t.Fatalf("payload_base64: %v", err)
			}
		default:
			t.Fatalf("want exactly one of payload and payload_base64: %q", line)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("payload %q came back as %q", payload, got)
		}
		if utf8.ValidString(topic) && j.Topic != topic {
			t.Fatalf("topic %q came back as %q", topic, j.Topic)
		}

		out, err = tmpl.format(nil, m, at)
		if err != nil {
			t.Fatalf("template {{json .}} failed: %v", err)
		}
		line = oneLine(t, out)
		if !json.Valid(line) {
			t.Fatalf("template {{json .}} is not valid JSON: %q", line)
		}
	})
}

// oneLine checks out is one line ending in a newline and returns it without.
func oneLine(t *testing.T, out []byte) []byte {
	t.Helper()
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	line := out[:len(out)-1]
	if bytes.IndexByte(line, '\n') >= 0 {
		t.Fatalf("output is more than one line: %q", out)
	}
	return line
}
