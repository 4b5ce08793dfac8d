package pub

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/payload"
	"github.com/iotctl/iotctl/pkg/session"
)

// render makes message n (1 for the first) of a --template run.
func (p *plan) render(n int, clientID string) (*session.Message, error) {
	m := p.msg // the template: topic, QoS, retain, properties
	text, err := p.tmpl.Render(nil, payload.Data{Count: n, Time: payload.Time{Time: time.Now()}, ClientID: clientID, Topic: m.Topic})
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
