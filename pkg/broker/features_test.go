package broker

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// shareMember is a raw subscriber that acknowledges and records deliveries.
type shareMember struct {
	r    *raw
	name string
	done chan struct{}
}

// shareLog records which shareMember received which message.
type shareLog struct {
	mu   sync.Mutex
	got  map[string]map[string]bool // payload → members
	dups int
	cond chan struct{}
}

func (l *shareLog) add(payload, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.got[payload] == nil {
		l.got[payload] = map[string]bool{}
	}
	if l.got[payload][name] {
		l.dups++ // a QoS 1 resend to the same shareMember is allowed
	}
	l.got[payload][name] = true
	select {
	case l.cond <- struct{}{}:
	default:
	}
}

func (l *shareLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// run reads deliveries until the connection ends; stopAfter > 0 closes it
// abruptly after that many deliveries, the last one unacknowledged.
func (m *shareMember) run(l *shareLog, stopAfter int) {
	defer close(m.done)
	n := 0
	for {
		pk, err := m.r.read()
		if err != nil {
			return
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		n++
		l.add(string(pk.Payload), m.name)
		if stopAfter > 0 && n == stopAfter {
			m.r.nc.Close()
			return
		}
		_ = m.r.write(encodePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: 5}))
	}
}

func persistentConnect(id string) packets.Packet {
	cp := connectPacket(id, 5, false)
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 300, true
	return cp
}

// TestSharedSubscription: three members of $share/g at QoS 1 with
// persistent sessions; one drops mid-stream leaving a delivery
// unacknowledged and comes back after the stream: every message reaches
// exactly one member, none is lost.
func TestSharedSubscription(t *testing.T) {
	b := quietBroker(t, nil)
	l := &shareLog{got: map[string]map[string]bool{}, cond: make(chan struct{}, 1)}
	var ms []*shareMember
	for i := range 3 {
		m := &shareMember{r: dialRaw(t, b), name: fmt.Sprint("m", i), done: make(chan struct{})}
		m.r.connect(persistentConnect(m.name))
		m.r.subscribe(1, packets.Subscription{Filter: "$share/g/work/#", Qos: 1})
		ms = append(ms, m)
	}
	for i, m := range ms {
		stop := 0
		if i == 1 {
			stop = 50
		}
		go m.run(l, stop)
	}
	const n = 3000
	for i := range n {
		if err := b.Publish("work/"+strconv.Itoa(i%7), []byte(strconv.Itoa(i)), false, 1); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			<-ms[1].done // m1 has dropped: the rest goes to m0 and m2
		}
	}
	// m1 comes back: its unacknowledged and queued deliveries arrive.
	back := &shareMember{r: dialRaw(t, b), name: "m1", done: make(chan struct{})}
	if ack := back.r.connect(persistentConnect("m1")); !ack.SessionPresent {
		t.Fatal("m1's session was not kept")
	}
	go back.run(l, 0)
	deadline := time.After(wait)
	for l.count() < n {
		select {
		case <-l.cond:
		case <-deadline:
			t.Fatalf("%d of %d messages delivered", l.count(), n)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	per := map[string]int{}
	for p, who := range l.got {
		if len(who) != 1 {
			t.Errorf("message %s went to %d members", p, len(who))
		}
		for w := range who {
			per[w]++
		}
	}
	t.Logf("per member %v, resent to the same member %d", per, l.dups)
	if per["m0"] == 0 || per["m1"] < 50 || per["m2"] == 0 {
		t.Errorf("uneven share %v", per)
	}
}

// TestWillMessages: a will is sent at once on a broken connection, after
// its delay otherwise, on DISCONNECT 0x04, and never on a normal
// DISCONNECT; a reconnection within the delay cancels it, also for later.
func TestWillMessages(t *testing.T) {
	b := quietBroker(t, nil)
	watcher := dialRaw(t, b)
	watcher.connect(connectPacket("watcher", 5, true))
	watcher.subscribe(1, packets.Subscription{Filter: "will/#", Qos: 1})
	withWill := func(id string, delay, expiry uint32) *raw {
		r := dialRaw(t, b)
		cp := connectPacket(id, 5, true)
		cp.Connect.WillFlag, cp.Connect.WillTopic, cp.Connect.WillPayload, cp.Connect.WillQos = true, "will/"+id, []byte("gone "+id), 1
		cp.Connect.WillProperties.WillDelayInterval = delay
		cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = expiry, true
		r.connect(cp)
		return r
	}
	expectWill := func(want string) {
		t.Helper()
		pk := watcher.expect(packets.Publish)
		if string(pk.Payload) != want {
			t.Fatalf("will %q, want %q", pk.Payload, want)
		}
		watcher.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	}
	// Normal DISCONNECT: no will. Then DISCONNECT 0x04: the will.
	withWill("normal", 0, 0).send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	withWill("w04", 0, 0).send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: 0x04})
	expectWill("gone w04")
	// Broken connection: the will at once.
	withWill("broken", 0, 0).nc.Close()
	expectWill("gone broken")
	// Delay 1 s, session expiry 10 s: the will after the delay.
	start := time.Now()
	withWill("delayed", 1, 10).nc.Close()
	expectWill("gone delayed")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("delayed will after %s, want ≥ 1 s", d)
	}
	// Delay 2 s, expiry 3 s: back within the delay, then a normal
	// DISCONNECT: the old will must not come at the session's end.
	withWill("resumed", 2, 3).nc.Close()
	r := dialRaw(t, b)
	cp := connectPacket("resumed", 5, false)
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 1, true
	if ack := r.connect(cp); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	// A marker published after the session's end (1 s) and any stale
	// will's time must be the next thing the watcher sees.
	expireGone(t, b, "resumed")
	if err := b.Publish("will/marker", []byte("marker"), false, 1); err != nil {
		t.Fatal(err)
	}
	expectWill("marker")
}

// expireGone waits until session id is gone from the broker.
func expireGone(t *testing.T, b *Broker, id string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b.server.mu.Lock()
		_, ok := b.server.sessions[id]
		b.server.mu.Unlock()
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s did not expire", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionExpiry: a session with expiry 1 s is gone after it: the
// reconnection gets session present 0 and no queued message.
func TestSessionExpiry(t *testing.T) {
	b := quietBroker(t, nil)
	r := dialRaw(t, b)
	cp := connectPacket("exp", 5, false)
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 1, true
	r.connect(cp)
	r.subscribe(1, packets.Subscription{Filter: "exp/x", Qos: 1})
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	if _, err := r.closed(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("exp/x", []byte("queued"), false, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expireGone(t, b, "exp")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("session expired after %s", d)
	}
	r2 := dialRaw(t, b)
	if ack := r2.connect(cp); ack.SessionPresent {
		t.Fatal("session present after its expiry")
	}
	// Nothing queued arrives: a PINGRESP comes first.
	r2.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	r2.expect(packets.Pingresp)
}

// TestMessageExpiry: a queued message past its expiry is not delivered; a
// queued message still valid carries its remaining expiry.
func TestMessageExpiry(t *testing.T) {
	b := quietBroker(t, nil)
	r := dialRaw(t, b)
	r.connect(persistentConnect("mexp"))
	r.subscribe(1, packets.Subscription{Filter: "mexp/#", Qos: 1})
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	if _, err := r.closed(); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, b)
	p.connect(connectPacket("mexp-pub", 5, true))
	for _, m := range []struct {
		topic  string
		expiry uint32
	}{{"mexp/short", 1}, {"mexp/long", 100}} {
		p.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: m.topic,
			Payload: []byte(m.topic), Properties: packets.Properties{MessageExpiryInterval: m.expiry}})
		p.expect(packets.Puback)
	}
	time.Sleep(2100 * time.Millisecond) // let the 1 s message expire (what is tested is time)
	r2 := dialRaw(t, b)
	r2.connect(persistentConnect("mexp"))
	pk := r2.expect(packets.Publish)
	if pk.TopicName != "mexp/long" {
		t.Fatalf("got %s, want only mexp/long", pk.TopicName)
	}
	if e := pk.Properties.MessageExpiryInterval; e < 90 || e > 98 {
		t.Errorf("remaining expiry %d, want 90–98", e)
	}
}

// TestRetained: set, replace, delete with an empty payload, retain
// handling 0/1/2 and retain as published.
func TestRetained(t *testing.T) {
	b := quietBroker(t, nil)
	p := dialRaw(t, b)
	p.connect(connectPacket("ret-pub", 5, true))
	pub := func(topic, payload string) {
		p.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, PacketID: 1, TopicName: topic, Payload: []byte(payload)})
		p.expect(packets.Puback)
	}
	pub("ret/a", "one")
	pub("ret/a", "two")
	pub("ret/b", "bee")
	pub("ret/b", "")
	s := dialRaw(t, b)
	s.connect(connectPacket("ret-sub", 5, true))
	// Retain handling 0: sent at subscribe, retain flag set.
	s.subscribe(1, packets.Subscription{Filter: "ret/#", Qos: 1})
	pk := s.expect(packets.Publish)
	if string(pk.Payload) != "two" || !pk.FixedHeader.Retain || pk.TopicName != "ret/a" {
		t.Fatalf("retained %s %q retain %v, want ret/a two true", pk.TopicName, pk.Payload, pk.FixedHeader.Retain)
	}
	s.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	// Retain handling 1 on an existing subscription: nothing; on a new
	// one: sent. Retain handling 2: never.
	s.subscribe(2, packets.Subscription{Filter: "ret/#", Qos: 1, RetainHandling: 1})
	s.subscribe(3, packets.Subscription{Filter: "ret/+", Qos: 1, RetainHandling: 2})
	s.subscribe(4, packets.Subscription{Filter: "ret/a", Qos: 0, RetainHandling: 1, RetainAsPublished: true})
	pk = s.expect(packets.Publish)
	if pk.TopicName != "ret/a" || string(pk.Payload) != "two" || pk.FixedHeader.Qos != 0 {
		t.Fatalf("got %s %q QoS %d, want ret/a two at QoS 0 for the new ret/a subscription", pk.TopicName, pk.Payload, pk.FixedHeader.Qos)
	}
	// A live retained publish: retain flag only through the
	// retain-as-published subscription (ret/a), merged into one delivery.
	pub("ret/a", "three")
	pk = s.expect(packets.Publish)
	if string(pk.Payload) != "three" || !pk.FixedHeader.Retain {
		t.Fatalf("live %q retain %v, want three with retain (retain as published)", pk.Payload, pk.FixedHeader.Retain)
	}
	s.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	s.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	s.expect(packets.Pingresp) // one delivery, not one per subscription
	// Deleted: a new subscriber gets only ret/a.
	s2 := dialRaw(t, b)
	s2.connect(connectPacket("ret-sub2", 5, true))
	s2.subscribe(1, packets.Subscription{Filter: "ret/#", Qos: 1})
	pk = s2.expect(packets.Publish)
	if pk.TopicName != "ret/a" || string(pk.Payload) != "three" {
		t.Fatalf("got %s %q", pk.TopicName, pk.Payload)
	}
	s2.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	s2.expect(packets.Pingresp)
}
