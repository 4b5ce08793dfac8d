package shared

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/session"
)

// JSONMessage is one received message as a JSON line: the shape of
// `sub -F json` and `req -o json`.
type JSONMessage struct {
	Topic         string             `json:"topic"`
	Payload       *string            `json:"payload,omitempty"`        // when valid UTF-8
	PayloadBase64 *string            `json:"payload_base64,omitempty"` // otherwise
	QoS           byte               `json:"qos"`
	Retain        bool               `json:"retain"`
	Properties    *MessageProperties `json:"properties,omitempty"`
	ReceivedAt    string             `json:"received_at"` // RFC 3339, nanoseconds, UTC
}

// MessageProperties are a message's MQTT 5 properties as JSON lines and
// templates show them; empty ones are left out of JSON.
type MessageProperties struct {
	UserProperties  [][2]string `json:"user_properties,omitempty"` // [key, value] pairs in order
	ContentType     string      `json:"content_type,omitempty"`
	ResponseTopic   string      `json:"response_topic,omitempty"`
	CorrelationData []byte      `json:"correlation_data,omitempty"` // base64 in JSON
	MessageExpiry   *uint32     `json:"message_expiry,omitempty"`   // seconds left
	PayloadFormat   *byte       `json:"payload_format,omitempty"`   // 0 bytes, 1 UTF-8
	SubscriptionIDs []int       `json:"subscription_ids,omitempty"`
}

// User returns the value of the first user property named key, or "".
func (p *MessageProperties) User(key string) string {
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

// NewMessageProperties returns p as shown, nil when every property is empty.
func NewMessageProperties(p *session.Properties) *MessageProperties {
	if len(p.UserProperties) == 0 && p.ContentType == "" && p.ResponseTopic == "" && len(p.CorrelationData) == 0 &&
		p.MessageExpiry == nil && p.PayloadFormat == nil && len(p.SubscriptionIDs) == 0 {
		return nil
	}
	out := &MessageProperties{
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

// AppendJSONMessage appends m, received at at, as one JSON line to dst.
func AppendJSONMessage(dst []byte, m *session.Message, at time.Time) ([]byte, error) {
	j := JSONMessage{
		Topic:      m.Topic,
		QoS:        m.QoS,
		Retain:     m.Retain,
		Properties: NewMessageProperties(&m.Props),
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
