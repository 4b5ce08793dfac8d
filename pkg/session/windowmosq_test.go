package session

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
)

// Against mosquitto with Receive Maximum 1, 2, 20, 199, 200 and 1000 (its
// max_inflight_messages), QoS 1 and 2: Flush returns once every message
// is acknowledged, each done callback called once without an error, and
// every message arrives.
func TestWindowsMosquitto(t *testing.T) {
	for _, rm := range []int{1, 2, 20, 199, 200, 1000} {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("rm%d-qos%d", rm, qos), func(t *testing.T) {
				addr := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: rm, MaxQueuedMessages: -1}).Addr()
				col := newCollector()
				sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", addr, "--client-id", "win-sub")
				if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "win/#", QoS: 1}}); err != nil {
					t.Fatal(err)
				}
				pub := dialSession(t, Options{}, "--endpoint", addr, "--client-id", "win-pub")
				const n = 1000
				var mu sync.Mutex
				calls := make([]int, n)
				for i := 0; i < n; i++ {
					i := i
					err := pub.Publish(context.Background(), &Message{Topic: "win/t", Payload: []byte(fmt.Sprint(i)), QoS: qos}, func(err error) {
						mu.Lock()
						calls[i]++
						mu.Unlock()
						if err != nil {
							t.Errorf("message %d: %v", i, err)
						}
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				if err := pub.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				for i, c := range calls {
					if c != 1 {
						t.Errorf("message %d: done called %d times", i, c)
					}
				}
				mu.Unlock()
				col.wait(t, n, 60*time.Second)
			})
		}
	}
}
