package session

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
)

// subscribeSpy hands over the client and user properties of each SUBSCRIBE
// the embedded broker receives.
type subscribeSpy struct {
	broker.HookBase
	subs chan subscribeSeen
}

type subscribeSeen struct {
	cl    *broker.Client
	props [][2]string
}

func (h *subscribeSpy) ID() string           { return "subscribe-spy" }
func (h *subscribeSpy) Provides(b byte) bool { return b == broker.OnSubscribe }
func (h *subscribeSpy) OnSubscribe(cl *broker.Client, pk packets.Packet) packets.Packet {
	var got [][2]string
	for _, u := range pk.Properties.User {
		got = append(got, [2]string{u.Key, u.Val})
	}
	h.subs <- subscribeSeen{cl, got}
	return pk
}

// TestSubscribeProperties: Options.SubscribeProperties go with every
// SUBSCRIBE, the resubscription after a reconnect included, and show in
// the trace; mosquitto accepts them.
func TestSubscribeProperties(t *testing.T) {
	spy := &subscribeSpy{subs: make(chan subscribeSeen, 10)}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{spy}})
	props := []UserProperty{{"app", "dash"}, {"app", "two"}}
	want := [][2]string{{"app", "dash"}, {"app", "two"}}
	var trace testenv.SyncBuffer
	s := dialSession(t, Options{SubscribeProperties: props, Reconnect: true, Debug: &trace}, "--endpoint", b.URL("mqtt"))
	if _, err := s.Subscribe(context.Background(), []Subscription{{Filter: "subprops/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	next := func() subscribeSeen {
		t.Helper()
		select {
		case seen := <-spy.subs:
			return seen
		case <-time.After(20 * time.Second):
			t.Fatal("no SUBSCRIBE reached the broker")
		}
		return subscribeSeen{}
	}
	first := next()
	if !reflect.DeepEqual(first.props, want) {
		t.Errorf("SUBSCRIBE user properties %q, want %q", first.props, want)
	}
	if !strings.Contains(trace.String(), `"subprops/#"/qos1 user_property="app=dash" user_property="app=two"`) {
		t.Errorf("trace lacks the SUBSCRIBE user properties:\n%s", trace.String())
	}
	// The broker drops the connection; the new one (no session kept)
	// subscribes again, with the properties.
	first.cl.Stop(errors.New("dropped by the test"))
	if again := next(); !reflect.DeepEqual(again.props, want) {
		t.Errorf("resubscription user properties %q, want %q", again.props, want)
	}

	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	ms := dialSession(t, Options{SubscribeProperties: props}, "--endpoint", m.URL())
	if _, err := ms.Subscribe(context.Background(), []Subscription{{Filter: "subprops/#", QoS: 1}}); err != nil {
		t.Fatalf("mosquitto: %v", err)
	}
}
