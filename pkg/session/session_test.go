package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
)

func ptr[T any](v T) *T { return &v }

func TestRoundTripEmbedded(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	testRoundTrip(t, b.URL("mqtt"))
}

func testRoundTrip(t *testing.T, url string) {
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			col := newCollector()
			sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", url)
			topic := fmt.Sprintf("rt/%d/%d", qos, time.Now().UnixNano())
			codes, err := sub.Subscribe(context.Background(), []Subscription{{Filter: topic, QoS: qos}})
			if err != nil || len(codes) != 1 || codes[0] != qos {
				t.Fatalf("subscribe: %v %v", codes, err)
			}
			pub := dialSession(t, Options{}, "--endpoint", url)
			want := &Message{Topic: topic, Payload: []byte("hello"), QoS: qos, Props: Properties{
				UserProperties:  []UserProperty{{"k", "v1"}, {"k", "v2"}, {"x", ""}},
				ContentType:     "text/plain",
				ResponseTopic:   "reply/here",
				CorrelationData: []byte{1, 2, 3},
				MessageExpiry:   ptr(uint32(3600)),
				PayloadFormat:   ptr(byte(1)),
			}}
			acked := make(chan error, 1)
			if err := pub.Publish(context.Background(), want, func(err error) { acked <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-acked; err != nil {
				t.Fatal(err)
			}
			if err := pub.Flush(context.Background()); err != nil || pub.Unacked() != 0 {
				t.Fatalf("flush: %v, unacked %d", err, pub.Unacked())
			}
			got := col.wait(t, 1, 10*time.Second)[0]
			if got.Topic != want.Topic || !bytes.Equal(got.Payload, want.Payload) || got.QoS != qos {
				t.Fatalf("got %+v", got)
			}
			gp, wp := got.Props, want.Props
			gp.SubscriptionIDs = nil
			if gp.MessageExpiry == nil || *gp.MessageExpiry > 3600 || *gp.MessageExpiry < 3590 {
				t.Errorf("message expiry %v", gp.MessageExpiry)
			}
			gp.MessageExpiry, wp.MessageExpiry = nil, nil
			if !reflect.DeepEqual(gp, wp) {
				t.Errorf("properties:\n got %+v\nwant %+v", gp, wp)
			}
		})
	}
}

func TestConnectRefusedPort(t *testing.T) {
	st := testenv.Settings(t, "--endpoint", fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t)), "--connect-timeout", "2s")
	_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if errs.KindOf(err) != errs.Connect {
		t.Fatalf("got %v (kind %v)", err, errs.KindOf(err))
	}
	t.Log(err)
}

func TestCloseIdempotent(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	s := dialSession(t, Options{}, "--endpoint", b.URL("mqtt"))
	if err := s.Close(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if err := s.Publish(context.Background(), &Message{Topic: "a", QoS: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}
