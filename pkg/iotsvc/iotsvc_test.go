package iotsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session"
)

// wait bounds every wait; never part of an assertion.
const wait = 30 * time.Second

func dial(t *testing.T, b *broker.Broker, id string, h func(*session.Message) error) *session.Session {
	t.Helper()
	st := testenv.Settings(t, "--endpoint", b.URL("mqtt"), "--client-id", id)
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: h})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx, 0)
	})
	return s
}

// responder answers requests on svc/+/op: a body {"reject":true} is
// rejected with code 404; replies echo the token and carry the request.
// With late, it answers every request twice, the first time with a wrong
// token, to prove a reply is matched by its token.
func responder(t *testing.T, b *broker.Broker, late bool) {
	t.Helper()
	var s *session.Session
	var mu sync.Mutex
	s = dial(t, b, "responder", func(m *session.Message) error {
		var req map[string]any
		_ = json.Unmarshal(m.Payload, &req)
		mu.Lock()
		ss := s
		mu.Unlock()
		send := func(topic string, body map[string]any) {
			p, _ := json.Marshal(body)
			_ = ss.Publish(context.Background(), &session.Message{Topic: topic, Payload: p, QoS: 1}, nil)
		}
		if late {
			send(m.Topic+"/accepted", map[string]any{"clientToken": "someone-else", "echo": "wrong"})
		}
		if req["reject"] == true {
			send(m.Topic+"/rejected", map[string]any{"code": 404, "message": "No shadow exists with name: x\x1b[31m", "clientToken": req["clientToken"]})
			return nil
		}
		send(m.Topic+"/accepted", map[string]any{"clientToken": req["clientToken"], "echo": req["n"]})
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if _, err := s.Subscribe(context.Background(), []session.Subscription{{Filter: "svc/+/op", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
}

func client(t *testing.T, b *broker.Broker) *Client {
	c := New()
	c.Bind(dial(t, b, "device", c.Handle))
	return c
}

func TestConcurrentRequestsGetTheirOwnReplies(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	responder(t, b, true)
	c := client(t, b)
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			topic := fmt.Sprintf("svc/%d/op", i%4)
			rep, err := c.Do(ctx, Request{Topic: topic, Body: map[string]any{"n": i}})
			if err != nil {
				errc <- err
				return
			}
			var got struct{ Echo any }
			_ = json.Unmarshal(rep.Payload, &got)
			if !rep.Accepted || got.Echo != float64(i) || rep.Topic != topic+"/accepted" {
				errc <- fmt.Errorf("request %d got %s on %s", i, rep.Payload, rep.Topic)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestRejected(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	responder(t, b, false)
	c := client(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rep, err := c.Do(ctx, Request{Topic: "svc/a/op", Body: map[string]any{"reject": true}})
	var r *Rejected
	if !errors.As(err, &r) || errs.KindOf(err) != errs.Refused {
		t.Fatalf("err = %v (%T), want a Refused *Rejected", err, err)
	}
	if r.Code != "404" || rep == nil || rep.Accepted {
		t.Errorf("code %q, reply %+v", r.Code, rep)
	}
	if strings.ContainsRune(err.Error(), 0x1b) {
		t.Errorf("control character in %q", err)
	}
}

func TestTimeoutNamesTheOperation(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	c := client(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, Request{Topic: "svc/none/op"})
	if errs.KindOf(err) != errs.Timeout || !strings.Contains(err.Error(), "svc/none/op") {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenlessRequestsOneAtATime(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	responder(t, b, false)
	c := client(t, b)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			body, _ := json.Marshal(map[string]any{"n": i})
			rep, err := c.Do(ctx, Request{Topic: "svc/p/op", NoToken: true, Raw: body})
			if err != nil {
				t.Error(err)
				return
			}
			var got struct{ Echo any }
			_ = json.Unmarshal(rep.Payload, &got)
			if got.Echo != float64(i) {
				t.Errorf("request %d got %s", i, rep.Payload)
			}
		}()
	}
	wg.Wait()
}

func TestWatch(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	c := client(t, b)
	got := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Watch(ctx, "svc/x/update/delta", func(r *Reply) error { got <- string(r.Payload); return nil }); err != nil {
		t.Fatal(err)
	}
	other := dial(t, b, "other", nil)
	if err := other.Publish(ctx, &session.Message{Topic: "svc/x/update/delta", Payload: []byte(`{"v":1}`), QoS: 1}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != `{"v":1}` {
			t.Errorf("got %s", s)
		}
	case <-time.After(wait):
		t.Fatal("no message on the watched topic")
	}
}

// A watched message is acknowledged only when its callback returns nil:
// Handle returns the callback's error (DeferAck, or one that ends the
// session), so the session holds the acknowledgement back.
func TestWatchErrorIsHandlersError(t *testing.T) {
	c := New()
	c.streams["t/x"] = func(*Reply) error { return session.DeferAck }
	if err := c.Handle(&session.Message{Topic: "t/x"}); err != session.DeferAck {
		t.Fatalf("Handle = %v, want DeferAck", err)
	}
	if err := c.Handle(&session.Message{Topic: "t/other/accepted"}); err != nil {
		t.Fatalf("a reply nobody waits for: %v", err)
	}
}
