package session

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
)

func TestResubscriptionsGroupByIDAndLimit(t *testing.T) {
	subs := []Subscription{{Filter: "a", ID: 1}, {Filter: "b", ID: 1}, {Filter: "c", ID: 1}, {Filter: "d", ID: 2}, {Filter: "e"}, {Filter: "f"}}
	var got [][]string
	for _, part := range resubscriptions(subs, 2) {
		var fs []string
		for _, s := range part {
			fs = append(fs, s.Filter)
		}
		got = append(got, fs)
	}
	want := [][]string{{"a", "b"}, {"c"}, {"d"}, {"e", "f"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resubscriptions = %v, want %v", got, want)
	}
}

// TestSubscriptionIdentifier: the identifier given with a filter comes back
// on the messages it matches, on brokers that offer identifiers.
func TestSubscriptionIdentifier(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	b := testenv.StartBroker(t, broker.Options{})
	for name, url := range map[string]string{"mosquitto": m.URL(), "embedded": b.URL("mqtt")} {
		t.Run(name, func(t *testing.T) {
			col := newCollector()
			s := dialSession(t, Options{Handler: col.handle}, "--endpoint", url)
			if !s.Capabilities().SubIDAvailable {
				t.Fatalf("%s does not offer subscription identifiers", name)
			}
			ctx := context.Background()
			if _, err := s.Subscribe(ctx, []Subscription{{Filter: "subid/a", QoS: 1, ID: 7}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Subscribe(ctx, []Subscription{{Filter: "subid/b", QoS: 1, ID: 9}}); err != nil {
				t.Fatal(err)
			}
			for _, topic := range []string{"subid/a", "subid/b"} {
				if err := s.Publish(ctx, &Message{Topic: topic, Payload: []byte(topic), QoS: 1}, nil); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string][]int{}
			for _, msg := range col.wait(t, 2, 10*time.Second) {
				got[msg.Topic] = msg.Props.SubscriptionIDs
			}
			if want := map[string][]int{"subid/a": {7}, "subid/b": {9}}; !reflect.DeepEqual(got, want) {
				t.Errorf("subscription IDs %v, want %v", got, want)
			}
		})
	}
	t.Run("mixed identifiers in one call", func(t *testing.T) {
		s := dialSession(t, Options{}, "--endpoint", b.URL("mqtt"))
		_, err := s.Subscribe(context.Background(), []Subscription{{Filter: "x", ID: 1}, {Filter: "y", ID: 2}})
		if err == nil {
			t.Fatal("two identifiers in one SUBSCRIBE accepted")
		}
	})
}
