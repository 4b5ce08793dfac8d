// Package iotsvc is the device side of AWS IoT Core's MQTT request/response
// services (Device Shadow, Jobs, fleet provisioning): a request is a
// publish to an operation's topic, its answer a publish on the topic
// plus "/accepted" or "/rejected". One Client serves every request of a
// session:
//
//   - the reply topics are subscribed before the first request is
//     published (the race the AWS SDK documentation warns about) and stay
//     subscribed for the session;
//   - every request that carries a clientToken gets a fresh random one,
//     and only the reply echoing it answers that request, so concurrent
//     requests never mix replies; services that echo no token (fleet
//     provisioning) are asked one request at a time per topic;
//   - streams (shadow update/delta, jobs notify-next) are subscriptions
//     with a callback.
//
// The commands decode the payloads; a rejected reply is a *Rejected error
// (kind Refused: exit 4).
package iotsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/session"
)

// Session is what a Client needs of a session (pkg/session.Session).
type Session interface {
	Publish(ctx context.Context, m *session.Message, done func(error)) error
	Subscribe(ctx context.Context, subs []session.Subscription) ([]byte, error)
}

// Client sends requests and routes their replies. Its Handle method must
// receive the session's inbound messages (session.Options.Handler, or be
// called from it).
type Client struct {
	s Session

	mu         sync.Mutex
	subscribed map[string]bool               // reply filters subscribed
	waiting    map[string][]*waiter          // by reply topic prefix (operation topic + "/")
	streams    map[string]func(*Reply) error // by exact topic
	serial     map[string]*sync.Mutex        // per operation topic, for token-less requests
}

type waiter struct {
	token string // "" matches any reply (token-less services)
	ch    chan *Reply
}

// Reply is a service's answer.
type Reply struct {
	Topic    string
	Accepted bool
	Payload  []byte
}

// New makes a Client; Bind gives it its session.
func New() *Client {
	return &Client{
		subscribed: map[string]bool{},
		waiting:    map[string][]*waiter{},
		streams:    map[string]func(*Reply) error{},
		serial:     map[string]*sync.Mutex{},
	}
}

// Bind sets the session requests go through.
func (c *Client) Bind(s Session) { c.s = s }

// Request options.
type Request struct {
	// Topic is the operation's topic, e.g. $aws/things/T/shadow/get.
	Topic string
	// Body is the request document; Request adds "clientToken" unless
	// NoToken. nil sends {}.
	Body map[string]any
	// NoToken: the service echoes no clientToken (fleet provisioning):
	// the first reply on the operation's reply topics answers, and
	// requests on one topic are sent one at a time.
	NoToken bool
	// Raw, when set, is sent as the payload instead of Body (a token-less
	// request only).
	Raw []byte
}

// NewToken is a random client token (32 hex digits; IoT Core allows 64
// bytes).
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Do sends one request and waits for its reply until ctx ends (give it a
// deadline: a context error is returned as a Timeout error naming the
// operation). A rejected reply is returned with a *Rejected error.
func (c *Client) Do(ctx context.Context, r Request) (*Reply, error) {
	if r.NoToken {
		mu := c.serialFor(r.Topic)
		mu.Lock()
		defer mu.Unlock()
	}
	if err := c.subscribeReplies(ctx, r.Topic); err != nil {
		return nil, err
	}
	payload := r.Raw
	w := &waiter{ch: make(chan *Reply, 1)}
	if payload == nil {
		body := map[string]any{}
		for k, v := range r.Body {
			body[k] = v
		}
		if !r.NoToken {
			w.token = NewToken()
			body["clientToken"] = w.token
		}
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, errs.Usagef("request to %s: %v", r.Topic, err)
		}
	}
	prefix := r.Topic + "/"
	c.mu.Lock()
	c.waiting[prefix] = append(c.waiting[prefix], w)
	c.mu.Unlock()
	defer c.forget(prefix, w)

	acked := make(chan error, 1)
	err := c.s.Publish(ctx, &session.Message{Topic: r.Topic, Payload: payload, QoS: 1}, func(err error) { acked <- err })
	if err != nil {
		return nil, err
	}
	for {
		select {
		case err := <-acked:
			if err != nil {
				return nil, err
			}
			acked = nil
		case rep := <-w.ch:
			if !rep.Accepted {
				return rep, rejection(r.Topic, rep.Payload)
			}
			return rep, nil
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, errs.Timeoutf("no answer to %s in time: is the service there (on AWS IoT Core it always is; a plain MQTT broker has none), and does the policy allow iot:Receive on %saccepted and %srejected? (give a longer --timeout)", r.Topic, prefix, prefix)
			}
			return nil, ctx.Err()
		}
	}
}

func (c *Client) serialFor(topic string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	mu := c.serial[topic]
	if mu == nil {
		mu = &sync.Mutex{}
		c.serial[topic] = mu
	}
	return mu
}

func (c *Client) forget(prefix string, w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiting[prefix]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.waiting, prefix)
	} else {
		c.waiting[prefix] = ws
	}
}

// subscribeReplies subscribes once to topic/accepted and topic/rejected.
func (c *Client) subscribeReplies(ctx context.Context, topic string) error {
	filters := []string{topic + "/accepted", topic + "/rejected"}
	var subs []session.Subscription
	c.mu.Lock()
	for _, f := range filters {
		if !c.subscribed[f] {
			subs = append(subs, session.Subscription{Filter: f, QoS: 1})
		}
	}
	c.mu.Unlock()
	if len(subs) == 0 {
		return nil
	}
	if err := c.subscribe(ctx, subs); err != nil {
		return err
	}
	c.mu.Lock()
	for _, s := range subs {
		c.subscribed[s.Filter] = true
	}
	c.mu.Unlock()
	return nil
}

func (c *Client) subscribe(ctx context.Context, subs []session.Subscription) error {
	codes, err := c.s.Subscribe(ctx, subs)
	if err != nil {
		return err
	}
	for i, code := range codes {
		if code >= 0x80 && i < len(subs) {
			return errs.Refusedf("subscribe to %s refused: %s: check the policy allows iot:Subscribe on topicfilter/%s", subs[i].Filter, session.ReasonName(code), subs[i].Filter)
		}
	}
	return nil
}

// Watch subscribes to topic (no wildcards) and calls fn with every message
// on it, from the session's handler goroutine (fn must not block on the
// session). The message is acknowledged when fn returns nil, so a message
// fn could not handle (e.g. not written) comes again to a kept session:
// fn's error is Handle's (session.DeferAck leaves the message
// unacknowledged; another error ends the session).
func (c *Client) Watch(ctx context.Context, topic string, fn func(*Reply) error) error {
	c.mu.Lock()
	c.streams[topic] = fn
	c.mu.Unlock()
	return c.subscribe(ctx, []session.Subscription{{Filter: topic, QoS: 1}})
}

// Handle routes one inbound message: a reply to the request waiting for
// it, a stream message to its callback; anything else is ignored.
func (c *Client) Handle(m *session.Message) error {
	c.mu.Lock()
	fn := c.streams[m.Topic]
	c.mu.Unlock()
	if fn != nil {
		return fn(&Reply{Topic: m.Topic, Accepted: true, Payload: m.Payload})
	}
	var accepted bool
	var prefix string
	switch {
	case strings.HasSuffix(m.Topic, "/accepted"):
		accepted, prefix = true, strings.TrimSuffix(m.Topic, "accepted")
	case strings.HasSuffix(m.Topic, "/rejected"):
		prefix = strings.TrimSuffix(m.Topic, "rejected")
	default:
		return nil
	}
	token := clientToken(m.Payload)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.waiting[prefix] {
		if w.token == "" || w.token == token {
			select {
			case w.ch <- &Reply{Topic: m.Topic, Accepted: accepted, Payload: m.Payload}:
			default: // already answered
			}
			return nil
		}
	}
	return nil
}

func clientToken(payload []byte) string {
	var v struct {
		ClientToken string `json:"clientToken"`
	}
	_ = json.Unmarshal(payload, &v)
	return v.ClientToken
}

// Rejected is a service's rejection: its code (a number for the Device
// Shadow, a name for Jobs, statusCode/errorCode for fleet provisioning)
// and message.
type Rejected struct {
	Operation string
	Code      string
	Message   string
	Body      map[string]any
}

func (r *Rejected) Error() string {
	msg := esc.String(r.Message)
	if msg == "" {
		msg = "no message"
	}
	if r.Code == "" {
		return fmt.Sprintf("%s rejected: %s", esc.String(r.Operation), msg)
	}
	return fmt.Sprintf("%s rejected: %s: %s", esc.String(r.Operation), esc.String(r.Code), msg)
}

// rejection decodes a rejected reply's error body.
func rejection(topic string, payload []byte) error {
	r := &Rejected{Operation: topic}
	var body map[string]any
	if json.Unmarshal(payload, &body) == nil {
		r.Body = body
		switch {
		case body["code"] != nil:
			r.Code = fmt.Sprint(number(body["code"]))
		case body["errorCode"] != nil:
			r.Code = fmt.Sprint(body["errorCode"])
			if sc, ok := body["statusCode"]; ok {
				r.Code = fmt.Sprintf("%v %s", number(sc), r.Code)
			}
		}
		for _, k := range []string{"message", "errorMessage"} {
			if s, ok := body[k].(string); ok {
				r.Message = s
				break
			}
		}
	}
	return errs.New(errs.Refused, r)
}

// number prints JSON numbers without a fraction as integers.
func number(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}
