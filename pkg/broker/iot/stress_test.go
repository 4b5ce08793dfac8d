package iot

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/internal/watchdog"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// TestStressIoT: the emulation under QoS 1 load, publishers and
// subscribers at once over mutual TLS with policies checked on every
// publish and delivery (rate limit off), with a watchdog that dumps the
// goroutines when progress stops for 10 s. Every message reaches both
// subscribers.
func TestStressIoT(t *testing.T) {
	leaf, w := leafWorld(t, Config{}, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/*"},
	 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/stress/*"},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/stress/*"}]}`)
	dir := t.TempDir()
	cert, key := leaf.Files(t, dir, "device")
	ca := testpki.Write(t, dir, "server-ca.pem", w.serverCA.PEM)
	_, port, _ := net.SplitHostPort(w.addr(broker.MQTTS))
	dial := func(id string, h func(*session.Message) error) *session.Session {
		st := testenv.Settings(t, "--endpoint", "localhost", "--port", port,
			"--cert", cert, "--key", key, "--ca-file", ca, "--client-id", id, "--limits", "aws-iot")
		p, err := auth.New(st)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s, err := session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: h})
		if err != nil {
			t.Fatalf("connect %s: %v", id, err)
		}
		t.Cleanup(func() { s.Close(context.Background(), 0) })
		return s
	}
	const pubs, count = 4, 1500
	var progress atomic.Int64
	stop := watchdog.Start(t, &progress, 10*time.Second)
	defer stop()
	var mu sync.Mutex
	got := []map[string]int{{}, {}}
	for i := range got {
		s := dial(fmt.Sprintf("stress-sub-%d", i), func(m *session.Message) error {
			mu.Lock()
			got[i][string(m.Payload)]++
			mu.Unlock()
			progress.Add(1)
			return nil
		})
		if _, err := s.Subscribe(context.Background(), []session.Subscription{{Filter: "stress/+", QoS: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for p := range pubs {
		s := dial(fmt.Sprintf("stress-pub-%d", p), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for i := range count {
				m := &session.Message{Topic: fmt.Sprintf("stress/%d", p), Payload: []byte(fmt.Sprintf("%d-%d", p, i)), QoS: 1}
				if err := s.Publish(ctx, m, func(error) { progress.Add(1) }); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Errorf("flush: %v", err)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for i := range got {
		for {
			mu.Lock()
			n := len(got[i])
			mu.Unlock()
			if n == pubs*count || time.Now().After(deadline) || t.Failed() {
				if n != pubs*count {
					t.Errorf("subscriber %d got %d of %d", i, n, pubs*count)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
