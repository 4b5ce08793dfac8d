package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/internal/relay"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

func TestRoundTripMosquitto(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	testRoundTrip(t, m.URL())
}

func TestRoundTripTLSAndWebsockets(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0", Home: t.TempDir()})
	for _, scheme := range []string{broker.MQTTS, broker.WS, broker.WSS} {
		t.Run(scheme, func(t *testing.T) {
			args := []string{"--endpoint", b.URL(scheme)}
			if scheme != broker.WS {
				args = append(args, "--ca-file", b.CAFile())
			}
			col := newCollector()
			s := dialSession(t, Options{Handler: col.handle}, args...)
			if _, err := s.Subscribe(context.Background(), []Subscription{{Filter: "x/" + scheme, QoS: 1}}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 100; i++ {
				if err := s.Publish(context.Background(), &Message{Topic: "x/" + scheme, Payload: []byte(fmt.Sprint(i)), QoS: 1}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			col.wait(t, 100, 10*time.Second)
		})
	}
}

func TestTLSUnknownAuthority(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{TLSListen: "127.0.0.1:0", Home: t.TempDir()})
	st := testenv.Settings(t, "--endpoint", b.URL(broker.MQTTS), "--connect-timeout", "5s")
	_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("got %v", err)
	}
}

func TestWebsocketUpgradeRefused(t *testing.T) {
	for code, kind := range map[int]errs.Kind{403: errs.Refused, 401: errs.Refused, 404: errs.Connect} {
		b := testenv.StartBroker(t, broker.Options{WSListen: "127.0.0.1:0", Authorize: func(r *http.Request) (any, int) { return nil, code }})
		st := testenv.Settings(t, "--endpoint", b.URL(broker.WS)+"/mqtt?X-Amz-Signature=SECRET", "--connect-timeout", "5s")
		_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
		if errs.KindOf(err) != kind || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%d: %v (kind %v)", code, err, errs.KindOf(err))
		}
		t.Log(err)
	}
}

func TestCapabilitiesMosquitto(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 37, Extra: "max_keepalive 10"})
	var got []Capabilities
	var mu sync.Mutex
	s := dialSession(t, Options{OnConnect: func(c Capabilities) { mu.Lock(); got = append(got, c); mu.Unlock() }},
		"--endpoint", m.URL(), "--keepalive", "60")
	c := s.Capabilities()
	if c.ReceiveMaximum != 37 || c.MaximumQoS != 2 || !c.RetainAvailable || c.SessionPresent {
		t.Errorf("capabilities %+v", c)
	}
	if c.ServerKeepalive == nil || *c.ServerKeepalive != 10 {
		t.Errorf("server keepalive %v, want 10", c.ServerKeepalive)
	}
	if c.ConnectLatency <= 0 || c.TopicAliasMaximum == 0 {
		t.Errorf("latency %v topic alias max %d", c.ConnectLatency, c.TopicAliasMaximum)
	}
	mu.Lock()
	if len(got) != 1 {
		t.Errorf("OnConnect called %d times", len(got))
	}
	mu.Unlock()
	s.mu.Lock()
	ka, w := s.conn.keepalive, s.window
	s.mu.Unlock()
	if ka != 10*time.Second || w != 37 {
		t.Errorf("keepalive %s window %d", ka, w)
	}
}

// killConn drops the session's connection without DISCONNECT.
func killConn(s *Session) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.kill(errConnLost)
	}
}

func TestWillOnAbnormalClose(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	b := testenv.StartBroker(t, broker.Options{})
	for name, url := range map[string]string{"mosquitto": m.URL(), "embedded": b.URL("mqtt")} {
		t.Run(name, func(t *testing.T) {
			col := newCollector()
			sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", url)
			if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "will/+", QoS: 1}}); err != nil {
				t.Fatal(err)
			}
			s := dialSession(t, Options{}, "--endpoint", url, "--client-id", "will-"+name,
				"--will-topic", "will/"+name, "--will-message", "gone", "--will-qos", "1")
			killConn(s)
			<-s.Done()
			if errs.KindOf(s.Err()) != errs.Connect {
				t.Errorf("session error %v", s.Err())
			}
			got := col.wait(t, 1, 10*time.Second)
			if got[0].Topic != "will/"+name || string(got[0].Payload) != "gone" {
				t.Fatalf("will %q %q", got[0].Topic, got[0].Payload)
			}
			// A clean close sends no will.
			s2 := dialSession(t, Options{}, "--endpoint", url, "--will-topic", "will/clean", "--will-message", "x")
			s2.Close(context.Background(), 0)
			time.Sleep(200 * time.Millisecond)
			if col.count() != 1 {
				t.Fatalf("will sent on a clean close")
			}
		})
	}
}

func TestPersistentSession(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	b := testenv.StartBroker(t, broker.Options{})
	for name, url := range map[string]string{"mosquitto": m.URL(), "embedded": b.URL("mqtt")} {
		t.Run(name, func(t *testing.T) {
			id := "persist-" + name
			args := []string{"--endpoint", url, "--client-id", id, "--clean-start=false", "--session-expiry", "1h"}
			col := newCollector()
			sub := dialSession(t, Options{Handler: col.handle}, args...)
			if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "persist/" + name, QoS: 1}}); err != nil {
				t.Fatal(err)
			}
			sub.Close(context.Background(), 0)

			// Both brokers acknowledge a QoS 1 publish once it is queued
			// for the offline session.
			pub := dialSession(t, Options{}, "--endpoint", url)
			for i := 0; i < 5; i++ {
				pub.Publish(context.Background(), &Message{Topic: "persist/" + name, Payload: []byte(fmt.Sprint(i)), QoS: 1}, nil)
			}
			if err := pub.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			col2 := newCollector()
			sub2 := dialSession(t, Options{Handler: col2.handle}, args...)
			if !sub2.Capabilities().SessionPresent {
				t.Fatal("session not present")
			}
			got := col2.wait(t, 5, 10*time.Second)
			seen := map[string]bool{}
			for i, m := range got[:5] {
				seen[string(m.Payload)] = true
				if string(m.Payload) != fmt.Sprint(i) { // in order
					t.Errorf("message %d: %q", i, m.Payload)
				}
			}
			if len(seen) != 5 {
				t.Errorf("got %v", seen)
			}
			if col.count() != 0 {
				t.Errorf("first subscriber got %d", col.count())
			}
		})
	}
}

// record is a broker hook's durable record of PUBLISHes, taken before
// they are acknowledged.
type record struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *record) hook(withhold func() bool) *fnHook {
	return &fnHook{onPublish: func(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error) {
		if withhold != nil && withhold() {
			return pk, mpackets.ErrRejectPacket // no PUBACK, not delivered
		}
		r.mu.Lock()
		if r.seen == nil {
			r.seen = map[string]int{}
		}
		r.seen[string(pk.Payload)]++
		r.mu.Unlock()
		return pk, nil
	}}
}

func (r *record) count(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[p]
}

// restartBroker closes b abruptly and starts a new broker (no session
// state) on the same address.
func restartBroker(t *testing.T, b *broker.Broker, opts broker.Options) *broker.Broker {
	t.Helper()
	addr := strings.TrimPrefix(b.URL("mqtt"), "mqtt://")
	b.Close()
	opts.Listen = addr
	var nb *broker.Broker
	var err error
	for i := 0; i < 100; i++ {
		if nb, err = broker.New(opts); err == nil {
			if err = nb.Start(); err == nil {
				break
			}
			nb.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nb.Close() })
	return nb
}

func TestRepublishWhenSessionLost(t *testing.T) {
	var rec record
	withhold := func() bool { return true }
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{rec.hook(withhold)}})
	var connects []Capabilities
	var mu sync.Mutex
	s := dialSession(t, Options{Reconnect: true, OnConnect: func(c Capabilities) { mu.Lock(); connects = append(connects, c); mu.Unlock() }},
		"--endpoint", b.URL("mqtt"), "--client-id", "republish", "--session-expiry", "1h")
	var acked sync.WaitGroup
	for _, qos := range []byte{1, 2} {
		for i := 0; i < 10; i++ {
			acked.Add(1)
			err := s.Publish(context.Background(), &Message{Topic: "r", Payload: []byte(fmt.Sprintf("%d-%d", qos, i)), QoS: qos}, func(err error) {
				if err != nil {
					t.Error(err)
				}
				acked.Done()
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	if s.Unacked() != 20 {
		t.Fatalf("unacked %d", s.Unacked())
	}
	restartBroker(t, b, broker.Options{Hooks: []broker.Hook{rec.hook(nil)}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (unacked %d)", err, s.Unacked())
	}
	acked.Wait()
	for _, qos := range []byte{1, 2} {
		for i := 0; i < 10; i++ {
			if n := rec.count(fmt.Sprintf("%d-%d", qos, i)); n != 1 {
				t.Errorf("%d-%d recorded %d times", qos, i, n)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(connects) != 2 || connects[1].SessionPresent {
		t.Errorf("connects %+v", connects)
	}
}

func TestResubscribeWhenSessionLost(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	col := newCollector()
	s := dialSession(t, Options{Reconnect: true, Handler: col.handle}, "--endpoint", b.URL("mqtt"), "--client-id", "resub")
	if _, err := s.Subscribe(context.Background(), []Subscription{{Filter: "resub/a", QoS: 1}, {Filter: "resub/b", QoS: 0}}); err != nil {
		t.Fatal(err)
	}
	up := make(chan struct{}, 4)
	s.o.OnConnect = func(Capabilities) { up <- struct{}{} }
	nb := restartBroker(t, b, broker.Options{})
	select {
	case <-up:
	case <-time.After(15 * time.Second):
		t.Fatal("no reconnect")
	}
	pub := dialSession(t, Options{}, "--endpoint", nb.URL("mqtt"))
	deadline := time.Now().Add(10 * time.Second)
	// The resubscription is not acknowledged to us: publish until it works.
	for col.count() < 2 && time.Now().Before(deadline) {
		pub.Publish(context.Background(), &Message{Topic: "resub/a", Payload: []byte("a"), QoS: 1}, nil)
		pub.Publish(context.Background(), &Message{Topic: "resub/b", Payload: []byte("b"), QoS: 1}, nil)
		pub.Flush(context.Background())
		time.Sleep(50 * time.Millisecond)
	}
	topics := map[string]bool{}
	for _, m := range col.all() {
		topics[m.Topic] = true
	}
	if !topics["resub/a"] || !topics["resub/b"] {
		t.Fatalf("after resubscribe got %v", topics)
	}
}

func TestHalfOpenDetected(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	r := relay.Start(t, strings.TrimPrefix(b.URL("mqtt"), "mqtt://"))
	s := dialSession(t, Options{}, "--endpoint", r.URL(), "--keepalive", "2")
	// Publishing keeps writes going; only the silence of reads can tell.
	r.Freeze()
	start := time.Now()
	go func() {
		for i := 0; ; i++ {
			if s.Publish(context.Background(), &Message{Topic: "h", Payload: []byte("x"), QoS: 0}, nil) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("half-open connection not detected")
	}
	el := time.Since(start)
	t.Logf("detected after %s: %v", el, s.Err())
	if el > 3500*time.Millisecond { // 1.5 × keepalive, plus scheduling slack
		t.Errorf("detected after %s, want <= 3s", el)
	}
	if errs.KindOf(s.Err()) != errs.Connect {
		t.Errorf("error %v", s.Err())
	}
	r.Thaw()
}

func TestRefusals(t *testing.T) {
	hook := &fnHook{
		onConnect: func(cl *broker.Client, pk mpackets.Packet) error {
			if pk.Connect.ClientIdentifier == "denied" {
				return mpackets.ErrNotAuthorized
			}
			return nil
		},
		acl: func(cl *broker.Client, topic string, write bool) bool { return !strings.HasPrefix(topic, "forbidden") },
	}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{hook}})

	st := testenv.Settings(t, "--endpoint", b.URL("mqtt"), "--client-id", "denied")
	_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	var re *ReasonError
	if !errors.As(err, &re) || re.Code != 0x87 || re.Op != "connect" || errs.KindOf(err) != errs.Refused {
		t.Fatalf("connect: %v", err)
	}
	t.Log(err)

	s := dialSession(t, Options{}, "--endpoint", b.URL("mqtt"))
	done := make(chan error, 1)
	if err := s.Publish(context.Background(), &Message{Topic: "forbidden/x", Payload: []byte("p"), QoS: 1}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if !errors.As(err, &re) || re.Code != 0x87 || errs.KindOf(err) != errs.Refused ||
		!strings.Contains(err.Error(), "publish to forbidden/x: not authorized (0x87)") || !strings.Contains(err.Error(), "iot:Publish") {
		t.Fatalf("publish: %v", err)
	}
	t.Log(err)
	codes, err := s.Subscribe(context.Background(), []Subscription{{Filter: "ok", QoS: 1}, {Filter: "forbidden/#", QoS: 1}})
	if !errors.As(err, &re) || re.Op != "subscribe" || re.Topic != "forbidden/#" || len(codes) != 2 || codes[0] != 1 || codes[1] < 0x80 {
		t.Fatalf("subscribe: %v %v", codes, err)
	}
	t.Log(err)
	s.mu.Lock()
	n := len(s.subs)
	s.mu.Unlock()
	if n != 1 {
		t.Errorf("remembered %d subscriptions, want 1", n)
	}
}

func TestReasonNames(t *testing.T) {
	for code, want := range map[byte]string{0x87: "not authorized", 0x86: "bad user name or password", 0x97: "quota exceeded", 0x95: "packet too large", 0x99: "payload format invalid", 0x90: "topic name invalid", 0x8E: "session taken over"} {
		if got := ReasonName(code); got != want {
			t.Errorf("0x%02X: %q", code, got)
		}
	}
	e := &ReasonError{Op: "publish", Code: 0x97, Topic: "a/b", ReasonString: "slow down"}
	if got := e.Error(); got != "publish to a/b: quota exceeded (0x97): slow down: a quota was exceeded: slow down (--rate) or check the account's limits" {
		t.Error(got)
	}
}

func TestDebugRedacts(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	var buf bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	s := dialSession(t, Options{Debug: w}, "--endpoint", b.URL("mqtt"), "--username", "u?x-amz-customauthorizer-signature=SIG", "--password", "hunter2")
	s.Publish(context.Background(), &Message{Topic: "d", Payload: []byte("x"), QoS: 1}, nil)
	s.Flush(context.Background())
	s.Close(context.Background(), 0)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, secret := range []string{"hunter2", "SIG"} {
		if strings.Contains(out, secret) {
			t.Errorf("debug output shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"-> CONNECT", "password=****", "<- CONNACK", "-> PUBLISH id=1 qos=1", "<- PUBACK id=1", "-> DISCONNECT"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug output lacks %q:\n%s", want, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ = net.Dial

// A session taken over by another client with the same ID ends for good,
// even with Reconnect: reconnecting would take it back, forever. It ends
// on the broker's DISCONNECT 0x8E; a broker that closes the connection
// without one leaves the client a lost connection, which it reconnects:
// mosquitto before 2.0.15 does that (eclipse-mosquitto/mosquitto#2607),
// so there the two clients take the session from each other in turn.
func TestSessionTakenOver(t *testing.T) {
	peers := map[string]func(*testing.T) string{
		"embedded":  func(t *testing.T) string { return testenv.StartBroker(t, broker.Options{}).URL("mqtt") },
		"mosquitto": func(t *testing.T) string { return testpeer.StartMosquitto(t, testpeer.MosquittoConfig{}).URL() },
	}
	for name, start := range peers {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			lost := make(chan string, 1)
			log := writerFunc(func(p []byte) (int, error) {
				if testing.Verbose() {
					t.Logf("%s", p)
				}
				if line := string(p); strings.HasPrefix(line, "connection lost") {
					select {
					case lost <- line:
					default:
					}
				}
				return len(p), nil
			})
			s1 := dialSession(t, Options{Reconnect: true, Log: log}, "--endpoint", url, "--client-id", "twin")
			dialSession(t, Options{Reconnect: true}, "--endpoint", url, "--client-id", "twin")
			select {
			case <-s1.Done():
			case line := <-lost:
				if name == "mosquitto" {
					t.Skipf("this mosquitto closes a taken-over connection without DISCONNECT 0x8E (fixed in 2.0.15): %s", line)
				}
				t.Fatalf("the first session reconnects: the broker closed it without DISCONNECT 0x8E: %s", line)
			case <-time.After(10 * time.Second):
				t.Fatal("first session still running")
			}
			var re *ReasonError
			if !errors.As(s1.Err(), &re) || re.Code != 0x8E || errs.KindOf(s1.Err()) != errs.Refused {
				t.Fatalf("err %v", s1.Err())
			}
			t.Log(s1.Err())
		})
	}
}
