package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/relay"
	"github.com/iotctl/iotctl/internal/testpeer"
)

// Against mosquitto allowing 2 aliases, 9 topics interleaved (seeded),
// QoS 1 and 2 mixed, the publisher's connection cut 4 times with messages
// in flight: every message arrives on its own topic, a QoS 2 one exactly
// once, and every done callback is called once, without an error.
func TestAliasManyTopicsAcrossCutsMosquitto(t *testing.T) {
	addr := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: "max_topic_alias 2\n"}).Addr()
	col := newCollector()
	sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", addr, "--client-id", "manyalias-sub")
	if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "many/#", QoS: 2}}); err != nil {
		t.Fatal(err)
	}
	r := relay.Start(t, addr)
	pub := dialSession(t, Options{Reconnect: true, TopicAlias: true}, "--endpoint", r.Addr(), "--client-id", "manyalias-pub", "--session-expiry", "1h")
	const n, cuts = 2000, 4
	rng := rand.New(rand.NewPCG(7, 7))
	qos := make([]byte, n)
	var mu sync.Mutex
	calls := make([]int, n)
	var errs []error
	go func() {
		for i := 0; i < n; i++ {
			topic := fmt.Sprintf("many/%d", rng.IntN(9))
			qos[i] = byte(1 + rng.IntN(2))
			i := i
			err := pub.Publish(context.Background(), &Message{Topic: topic, Payload: []byte(fmt.Sprintf("%s|%d", topic, i)), QoS: qos[i]}, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				calls[i]++
				if err != nil {
					errs = append(errs, err)
				}
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
		}
	}()
	cutInFlight(t, r, col, pub, n, cuts)
	checkAliasDelivery(t, col, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		t.Error(err)
	}
	for i, c := range calls {
		if c != 1 {
			t.Errorf("message %d: done called %d times", i, c)
		}
	}
	count := map[string]int{}
	for _, m := range col.all() {
		count[string(m.Payload)]++
	}
	for p, c := range count {
		_, num, _ := strings.Cut(p, "|")
		var i int
		fmt.Sscan(num, &i)
		if qos[i] == 2 && c != 1 {
			t.Errorf("QoS 2 message %q arrived %d times", p, c)
		}
	}
}
