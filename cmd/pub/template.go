package pub

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/session"
	"math/rand/v2"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
	"github.com/iotctl/iotctl/pkg/errs"
)

// payloadTemplate is -m under --template: a Go template executed for each
// message, so --count and --interval simulate a device.
type payloadTemplate struct {
	t *template.Template
}

// templateData is what a payload template sees.
type templateData struct {
	Count    int          // 1 for the first message
	Time     templateTime // when the message is made
	ClientID string
	Topic    string
}

// templateTime prints as RFC 3339 (milliseconds, UTC); its methods are
// time.Time's: {{.Time.UnixMilli}}, {{.Time.Format "15:04"}}.
type templateTime struct{ time.Time }

func (t templateTime) String() string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Random is a random whole number from 0 to n-1 ({{.Random 100}}).
func (templateData) Random(n int) (int, error) {
	if n <= 0 {
		return 0, errs.Usagef("{{.Random %d}}: give a positive bound", n)
	}
	return rand.IntN(n), nil
}

// UUID is a random (version 4) UUID.
func (templateData) UUID() string { return uuid.NewString() }

func parsePayloadTemplate(text string) (*payloadTemplate, error) {
	t, err := template.New("-m").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, errs.Usagef("--template: %v", cleanTemplateErr(err))
	}
	p := &payloadTemplate{t: t}
	// A field or method that does not exist fails here, not mid-run.
	if _, err := p.render(nil, templateData{Count: 1, Time: templateTime{time.Now()}, ClientID: "client", Topic: "topic"}); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *payloadTemplate) render(dst []byte, d templateData) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	if err := p.t.Execute(b, d); err != nil {
		return nil, errs.Usagef("--template: %v: the fields are .Count .Time .ClientID .Topic, the methods .Random N and .UUID", cleanTemplateErr(err))
	}
	return b.Bytes(), nil
}

func cleanTemplateErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "template: ")
	return s
}

// render makes message n (1 for the first) of a --template run.
func (p *plan) render(n int, clientID string) (*session.Message, error) {
	m := p.msg // the template: topic, QoS, retain, properties
	text, err := p.tmpl.render(nil, templateData{Count: n, Time: templateTime{time.Now()}, ClientID: clientID, Topic: m.Topic})
	if err != nil {
		return nil, err
	}
	if m.Payload, err = p.enc.Decode(nil, text, "message "+strconv.Itoa(n)); err != nil {
		return nil, err
	}
	if err := p.rules.Payload(len(m.Payload)); err != nil {
		return nil, fmt.Errorf("message %d: %w", n, err)
	}
	if p.utf8 && !utf8.Valid(m.Payload) {
		return nil, errs.Usagef("--payload-format utf8: message %d is not valid UTF-8: use --payload-format bytes", n)
	}
	return &m, nil
}
