package iot

import (
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// TestReceiveBypass: a client allowed iot:Subscribe on a filter but denied
// iot:Receive on its topic gets nothing, however it subscribes: one
// SUBSCRIBE, SUBSCRIBE in a loop while messages flow (mochi asked the
// emulator one question for both, and deliveries during a SUBSCRIBE got the
// SUBSCRIBE's verdict), retained messages at subscribe time, and $share.
func TestReceiveBypass(t *testing.T) {
	leaf, w := leafWorld(t, Config{}, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/*"},
	 {"Effect":"Allow","Action":["iot:Publish","iot:RetainPublish"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/secret"},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/secret","arn:aws:iot:us-east-1:123456789012:topicfilter/$share/g/secret"]}]}`)
	pub, _ := w.dialTLS(t, leaf)
	pub.mustConnect("pub")
	if code := pub.publish1(1, "secret", true); code != 0 {
		t.Fatalf("retained publish: 0x%02X", code)
	}

	sub, _ := w.dialTLS(t, leaf)
	sub.mustConnect("sub")
	var mu sync.Mutex
	delivered := 0
	subacks := make(chan struct{}, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := sub.next()
			if err != nil {
				return
			}
			switch p.Content.(type) {
			case *packets.Publish:
				mu.Lock()
				delivered++
				mu.Unlock()
			case *packets.Suback:
				subacks <- struct{}{}
			}
		}
	}()
	go func() {
		for i := range 400 {
			f := "secret"
			if i%2 == 1 {
				f = "$share/g/secret"
			}
			s := &packets.Subscribe{PacketID: uint16(i%60000 + 1), Properties: &packets.Properties{},
				Subscriptions: []packets.SubOptions{{Topic: f, QoS: 1}}}
			if _, err := s.WriteTo(sub.conn); err != nil {
				return
			}
		}
	}()
	for i := range 2000 {
		qos := byte(i % 2)
		p := &packets.Publish{QoS: qos, Topic: "secret", Payload: []byte("x"), Properties: &packets.Properties{}}
		if qos == 1 {
			p.PacketID = uint16(i%60000 + 2)
		}
		pub.send(p)
	}
	// Wait for every SUBACK, then a round trip on the publisher so every
	// publish was routed.
	for i := range 400 {
		select {
		case <-subacks:
		case <-time.After(wait):
			t.Fatalf("%d of 400 SUBACKs", i)
		}
	}
	pub.send(&packets.Pingreq{})
	for {
		p := pub.read()
		if p.Type == packets.PINGRESP {
			break
		}
	}
	time.Sleep(100 * time.Millisecond) // deliveries in flight on loopback
	sub.conn.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if delivered != 0 {
		t.Fatalf("a client denied iot:Receive got %d messages", delivered)
	}
	w.logs.has(t, "IoT: denied", "action=iot:Receive", "topic/secret")
}
