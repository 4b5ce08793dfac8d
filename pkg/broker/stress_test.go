package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ppackets "github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/watchdog"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// dial connects a session with our client engine.
func dial(t *testing.T, o session.Options, args ...string) *session.Session {
	t.Helper()
	o.Settings = testenv.Settings(t, args...)
	p, err := auth.New(o.Settings)
	if err != nil {
		t.Fatal(err)
	}
	o.Provider = p
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := session.Connect(ctx, o)
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

// counter counts what a subscriber received per message key.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
	all  *atomic.Int64
}

func (c *counter) handle(m *session.Message) error {
	c.mu.Lock()
	c.seen[string(m.Payload)]++
	c.mu.Unlock()
	c.all.Add(1)
	return nil
}

func (c *counter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// TestStress: QoS 1 and 2 publishers and subscribers at once, every
// message counted, with a watchdog that dumps goroutines when progress
// stops for 10 s (mochi-mqtt v2.7.9, the broker core before ours,
// deadlocked here within seconds).
func TestStress(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			stressRun(t, testenv.StartBroker(t, broker.Options{}).URL(broker.MQTT), qos, 4, 2, 2000)
		})
	}
}

func stressRun(t *testing.T, url string, qos byte, pubs, subs, count int) {
	var progress atomic.Int64
	stop := watchdog.Start(t, &progress, 10*time.Second)
	defer stop()
	topic := "stress/" + strconv.Itoa(int(qos))
	var counters []*counter
	for i := range subs {
		c := &counter{seen: map[string]int{}, all: &progress}
		counters = append(counters, c)
		// A small Receive Maximum keeps the broker's window logic busy.
		s := dial(t, session.Options{Handler: c.handle}, "--endpoint", url, "--client-id", fmt.Sprintf("stress-sub-%d-%d", qos, i), "--receive-maximum", "20")
		if _, err := s.Subscribe(context.Background(), []session.Subscription{{Filter: topic + "/#", QoS: qos}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var acked atomic.Int64
	for p := range pubs {
		s := dial(t, session.Options{}, "--endpoint", url, "--client-id", fmt.Sprintf("stress-pub-%d-%d", qos, p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for i := range count {
				m := &session.Message{Topic: fmt.Sprintf("%s/%d", topic, p), Payload: []byte(fmt.Sprintf("%d-%d", p, i)), QoS: qos}
				if err := s.Publish(ctx, m, func(err error) {
					if err == nil {
						acked.Add(1)
						progress.Add(1)
					}
				}); err != nil {
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
	want := pubs * count
	if got := int(acked.Load()); got != want {
		t.Fatalf("%d of %d acknowledged", got, want)
	}
	deadline := time.Now().Add(time.Minute)
	for i, c := range counters {
		for c.distinct() < want && time.Now().Before(deadline) && !t.Failed() {
			time.Sleep(10 * time.Millisecond)
		}
		if got := c.distinct(); got != want {
			t.Errorf("subscriber %d received %d distinct of %d", i, got, want)
		}
		c.mu.Lock()
		dups := 0
		for _, n := range c.seen {
			dups += n - 1
		}
		c.mu.Unlock()
		if qos == 2 && dups > 0 {
			t.Errorf("subscriber %d: %d duplicates at QoS 2", i, dups)
		}
	}
}

// TestResumeBacklogInOrder: a persistent session resumed with 100 queued
// QoS 1 messages gets them all, in order, and its own SUBSCRIBE packet IDs
// are never confused with the broker's (mochi answered 0x91 here).
func TestResumeBacklogInOrder(t *testing.T) {
	url := testenv.StartBroker(t, broker.Options{}).URL(broker.MQTT)
	args := []string{"--endpoint", url, "--client-id", "resume-1", "--clean-start=false", "--session-expiry", "1h"}
	s := dial(t, session.Options{}, args...)
	if _, err := s.Subscribe(context.Background(), []session.Subscription{{Filter: "resume/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	s.Close(context.Background(), 0)
	pub := dial(t, session.Options{}, "--endpoint", url)
	for i := range 100 {
		pub.Publish(context.Background(), &session.Message{Topic: "resume/x", Payload: []byte(strconv.Itoa(i)), QoS: 1}, nil)
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 200)
	s2 := dial(t, session.Options{Handler: func(m *session.Message) error { got <- string(m.Payload); return nil }}, args...)
	// More SUBSCRIBEs while the backlog arrives: packet IDs 1, 2, … are
	// the broker's too.
	for i := range 20 {
		codes, err := s2.Subscribe(context.Background(), []session.Subscription{{Filter: fmt.Sprintf("other/%d", i), QoS: 1}})
		if err != nil || len(codes) != 1 || codes[0] != 1 {
			t.Fatalf("subscribe %d: %v %v", i, codes, err)
		}
	}
	for i := range 100 {
		select {
		case p := <-got:
			if p != strconv.Itoa(i) {
				t.Fatalf("message %d is %q: out of order", i, p)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of 100", i)
		}
	}
}

// TestStuckSubscriber: a QoS 1 subscriber that never reads costs only
// itself; a healthy subscriber beside it gets every message, and the stuck
// one is disconnected when its queue is full. The publisher keeps at most
// 10,000 messages ahead of the healthy subscriber, so on a loaded machine
// the healthy one never reaches the queue limit itself (that is the limit
// doing its job, not what this test is about).
func TestStuckSubscriber(t *testing.T) {
	caps := broker.DefaultCapabilities()
	caps.MaxQueuedMessages = 20000
	b := testenv.StartBroker(t, broker.Options{Capabilities: &caps})
	url := b.URL(broker.MQTT)
	stuck := rawSubscriber(t, strings.TrimPrefix(url, "mqtt://"), "stuck", "slow/#")
	defer stuck.Close()

	var all atomic.Int64
	c := &counter{seen: map[string]int{}, all: &all}
	s := dial(t, session.Options{Handler: c.handle}, "--endpoint", url, "--client-id", "healthy")
	if _, err := s.Subscribe(context.Background(), []session.Subscription{{Filter: "slow/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	const n, ahead = 50000, 10000
	pub := dial(t, session.Options{}, "--endpoint", url)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	payload := strings.Repeat("x", 200)
	for i := range n {
		for i%1000 == 0 && i-c.distinct() > ahead && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if err := pub.Publish(ctx, &session.Message{Topic: "slow/x", Payload: []byte(strconv.Itoa(i) + payload), QoS: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatalf("publisher stalled: %v", err)
	}
	for c.distinct() < n && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.distinct(); got != n {
		t.Fatalf("healthy subscriber got %d of %d", got, n)
	}
	// The stuck one was cut: its socket answers EOF or reset once read.
	_ = stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stuck); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the stuck subscriber is still connected")
		}
	}
}

// rawSubscriber connects over TCP, subscribes at QoS 1 and never reads
// again (keepalive 0: the broker cannot tell it is stuck).
func rawSubscriber(t *testing.T, addr, id, filter string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := ppackets.NewControlPacket(ppackets.CONNECT)
	cp := c.Content.(*ppackets.Connect)
	cp.ProtocolName, cp.ProtocolVersion, cp.ClientID, cp.CleanStart = "MQTT", 5, id, true
	if _, err := c.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	if p, err := ppackets.ReadPacket(nc); err != nil || p.Type != ppackets.CONNACK {
		t.Fatalf("CONNACK: %v %v", p, err)
	}
	s := ppackets.NewControlPacket(ppackets.SUBSCRIBE)
	sp := s.Content.(*ppackets.Subscribe)
	sp.PacketID = 1
	sp.Subscriptions = []ppackets.SubOptions{{Topic: filter, QoS: 1}}
	if _, err := s.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	if p, err := ppackets.ReadPacket(nc); err != nil || p.Type != ppackets.SUBACK {
		t.Fatalf("SUBACK: %v %v", p, err)
	}
	return nc
}
