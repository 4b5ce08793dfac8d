// Package payload is the per-message payload template of pub --template
// and bench --template: a Go template executed for each message, so a
// stream of messages can simulate a device.
package payload

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
	"github.com/iotctl/iotctl/pkg/errs"
)

// Template is a parsed payload template.
type Template struct {
	flag string // the flag that gave it, for messages
	t    *template.Template
}

// Data is what a payload template sees.
type Data struct {
	Count    int  // 1 for the first message
	Time     Time // when the message is made
	ClientID string
	Topic    string
}

// Time prints as RFC 3339 (milliseconds, UTC); its methods are
// time.Time's: {{.Time.UnixMilli}}, {{.Time.Format "15:04"}}.
type Time struct{ time.Time }

func (t Time) String() string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Random is a random whole number from 0 to n-1 ({{.Random 100}}).
func (Data) Random(n int) (int, error) {
	if n <= 0 {
		return 0, errs.Usagef("{{.Random %d}}: give a positive bound", n)
	}
	return rand.IntN(n), nil
}

// UUID is a random (version 4) UUID.
func (Data) UUID() string { return uuid.NewString() }

// Fields names what a template may use, for help and messages.
const Fields = "{{.Count}} {{.Time}} {{.Random N}} {{.UUID}} {{.ClientID}} {{.Topic}}"

// Parse parses text, given with flag (for messages, like "--template"),
// and runs it once: a field or method that does not exist is a usage
// error here, not mid-run.
func Parse(flag, text string) (*Template, error) {
	t, err := template.New(flag).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, errs.Usagef("%s: %v", flag, cleanErr(err))
	}
	p := &Template{flag: flag, t: t}
	if _, err := p.Render(nil, Data{Count: 1, Time: Time{time.Now()}, ClientID: "client", Topic: "topic"}); err != nil {
		return nil, err
	}
	return p, nil
}

// Render appends the template's output for d to dst.
func (p *Template) Render(dst []byte, d Data) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	if err := p.t.Execute(b, d); err != nil {
		return nil, errs.Usagef("%s: %v: the fields are .Count .Time .ClientID .Topic, the methods .Random N and .UUID", p.flag, cleanErr(err))
	}
	return b.Bytes(), nil
}

func cleanErr(err error) string {
	return strings.TrimPrefix(err.Error(), "template: ")
}
