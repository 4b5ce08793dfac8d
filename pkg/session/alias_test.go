package session

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/relay"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

// An aliased PUBLISH is what paho encodes for the same topic and alias.
func TestAliasEncodingMatchesPaho(t *testing.T) {
	m := &Message{Topic: "a/b", Payload: []byte("x"), Props: Properties{ContentType: "c"}}
	for _, tc := range []struct {
		topic string
		alias uint16
	}{{"a/b", 1}, {"", 1}, {"", 0x1234}} {
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		n := writePublish(w, m, tc.topic, tc.alias, 1, 9, true)
		w.Flush()
		_, total := wireSize(m, tc.topic, tc.alias, 1)
		if total != got.Len() || n != got.Len() {
			t.Errorf("wireSize %d, writePublish %d, encoded %d", total, n, got.Len())
		}
		cp, err := packets.ReadPacket(bytes.NewReader(got.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		p := cp.Content.(*packets.Publish)
		if p.Topic != tc.topic || p.Properties.TopicAlias == nil || *p.Properties.TopicAlias != tc.alias ||
			p.Properties.ContentType != "c" || string(p.Payload) != "x" || p.PacketID != 9 || !p.Duplicate {
			t.Errorf("%q alias %d decoded as %+v", tc.topic, tc.alias, p)
		}
	}
}

// seenPublish is a PUBLISH as a fake broker read it.
type seenPublish struct {
	topic string
	alias uint16 // 0: none
	dup   bool
	id    uint16
}

// readPublish reads up to the next PUBLISH; false at the end of the
// connection (the client's DISCONNECT or close).
func readPublish(r *bufio.Reader) (seenPublish, bool) {
	var cp *packets.ControlPacket
	for cp == nil || cp.Type != packets.PUBLISH {
		var err error
		if cp, err = packets.ReadPacket(r); err != nil || cp.Type == packets.DISCONNECT {
			return seenPublish{}, false
		}
	}
	p := cp.Content.(*packets.Publish)
	sp := seenPublish{topic: p.Topic, dup: p.Duplicate, id: p.PacketID}
	if p.Properties != nil && p.Properties.TopicAlias != nil {
		sp.alias = *p.Properties.TopicAlias
	}
	return sp, true
}

func puback(c net.Conn, id uint16) {
	ack := packets.NewControlPacket(packets.PUBACK)
	ack.Content.(*packets.Puback).PacketID = id
	ack.WriteTo(c)
}

// serveAliases serves connections one after the other, answering each
// CONNACK with the Topic Alias Maximum of maxAlias[conn] and Session
// Present on every connection but the first.
func serveAliases(t *testing.T, maxAlias []uint16, script func(conn int, c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for conn := range maxAlias {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			packets.ReadPacket(r)
			ack := packets.NewControlPacket(packets.CONNACK)
			ca := ack.Content.(*packets.Connack)
			ca.SessionPresent = conn > 0
			if maxAlias[conn] > 0 {
				ca.Properties = &packets.Properties{TopicAliasMaximum: &maxAlias[conn]}
			}
			ack.WriteTo(c)
			script(conn, c, r)
		}
	}()
	return ln.Addr().String()
}

// The bytes: the first PUBLISH to a topic carries topic and alias, later
// ones the alias alone; a QoS 1 message resent (DUP) on a new connection
// carries its topic again, and so does the next one; topics beyond the
// broker's maximum go without an alias.
func TestAliasOnTheWire(t *testing.T) {
	got := make(chan seenPublish, 32)
	conn1 := make(chan struct{})
	addr := serveAliases(t, []uint16{1, 1}, func(conn int, c net.Conn, r *bufio.Reader) {
		defer c.Close()
		switch conn {
		case 0:
			for i := 0; i < 4; i++ {
				sp, ok := readPublish(r)
				if !ok {
					return
				}
				got <- sp
				if i < 3 {
					puback(c, sp.id) // the fourth stays in flight
				}
			}
		case 1:
			close(conn1)
			for {
				sp, ok := readPublish(r)
				if !ok {
					return
				}
				got <- sp
				puback(c, sp.id)
			}
		}
	})
	s := dialSession(t, Options{Reconnect: true, TopicAlias: true}, "--endpoint", addr, "--client-id", "alias-wire", "--session-expiry", "1h")
	pub := func(topic string) {
		t.Helper()
		if err := s.Publish(context.Background(), &Message{Topic: topic, Payload: []byte("p"), QoS: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	next := func() seenPublish {
		t.Helper()
		select {
		case sp := <-got:
			return sp
		case <-time.After(20 * time.Second):
			t.Fatal("no PUBLISH at the fake broker")
		}
		return seenPublish{}
	}
	want := func(sp seenPublish, topic string, alias uint16, dup bool) {
		t.Helper()
		if sp.topic != topic || sp.alias != alias || sp.dup != dup {
			t.Errorf("PUBLISH topic %q alias %d dup %t, want %q %d %t", sp.topic, sp.alias, sp.dup, topic, alias, dup)
		}
	}
	for _, topic := range []string{"a/b", "a/b", "other", "a/b"} {
		pub(topic)
	}
	want(next(), "a/b", 1, false)
	want(next(), "", 1, false)
	want(next(), "other", 0, false) // Topic Alias Maximum 1: taken
	want(next(), "", 1, false)      // in flight when the connection ends
	<-conn1
	want(next(), "a/b", 1, true) // resent on the new connection: topic again
	pub("a/b")
	want(next(), "", 1, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// 6 PUBLISHes: fixed header 2, topic length 2, packet ID 2, property
	// length 1, payload 1; topics 3+0+5+0+3+0; aliases 3 each but "other".
	// In full: topics 3+3+5+3+3+3, no aliases.
	if w := s.Wire(); w.Publishes != 6 || w.PublishBytes != 6*8+11+5*3 || w.FullBytes != 6*8+20 {
		t.Errorf("wire stats %+v, want 6 PUBLISHes of %d bytes, %d in full", w, 6*8+11+5*3, 6*8+20)
	}
}

// A broker that allows no aliases gets full topics, and one warning.
func TestAliasRefusedByBroker(t *testing.T) {
	got := make(chan seenPublish, 8)
	addr := serveAliases(t, []uint16{0}, func(conn int, c net.Conn, r *bufio.Reader) {
		defer c.Close()
		for {
			sp, ok := readPublish(r)
			if !ok {
				return
			}
			got <- sp
			puback(c, sp.id)
		}
	})
	var warnings []string
	var mu sync.Mutex
	s := dialSession(t, Options{TopicAlias: true, Warn: func(w string) { mu.Lock(); warnings = append(warnings, w); mu.Unlock() }},
		"--endpoint", addr, "--client-id", "alias-none")
	for i := 0; i < 2; i++ {
		if err := s.Publish(context.Background(), &Message{Topic: "t", Payload: []byte("p"), QoS: 1}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case sp := <-got:
			if sp.topic != "t" || sp.alias != 0 {
				t.Errorf("PUBLISH %+v, want topic t without alias", sp)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no PUBLISH")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "--topic-alias") || !strings.Contains(warnings[0], "Topic Alias Maximum 0") {
		t.Errorf("warnings %q", warnings)
	}
}

// aliasTopics are the topics the alias tests publish to, in turn.
var aliasTopics = []string{"alias/a", "alias/b/c", "alias/d"}

// aliasPayload names the message's topic, so the subscriber can check it.
func aliasPayload(i int) (topic string, payload []byte) {
	topic = aliasTopics[i%len(aliasTopics)]
	return topic, []byte(fmt.Sprintf("%s|%d", topic, i))
}

// checkAliasDelivery waits until every one of n messages arrived and
// checks that each came on the topic its payload names.
// cutInFlight cuts every connection through r cuts times while messages
// are in flight: after each n/(cuts+1) deliveries to col, once pub has
// messages unacknowledged.
func cutInFlight(t *testing.T, r *relay.Relay, col *collector, pub *Session, n, cuts int) {
	t.Helper()
	for k := 1; k <= cuts; k++ {
		deadline := time.Now().Add(60 * time.Second)
		for col.count() < k*n/(cuts+1) || pub.Unacked() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("cut %d: %d delivered, %d unacknowledged", k, col.count(), pub.Unacked())
			}
			select {
			case <-col.ch:
			case <-time.After(10 * time.Millisecond):
			}
		}
		r.CutAll()
	}
}

func checkAliasDelivery(t *testing.T, col *collector, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	seen := map[string]bool{}
	done := 0
	for len(seen) < n {
		msgs := col.all()
		for _, m := range msgs[done:] {
			topic, _, _ := strings.Cut(string(m.Payload), "|")
			if m.Topic != topic {
				t.Fatalf("message %q arrived on topic %q", m.Payload, m.Topic)
			}
			seen[string(m.Payload)] = true
		}
		done = len(msgs)
		if len(seen) == n {
			break
		}
		select {
		case <-col.ch:
		case <-deadline:
			t.Fatalf("received %d of %d messages", len(seen), n)
		}
	}
}

// Against the embedded broker and mosquitto: the publisher's connection is
// cut through a relay while QoS 1 messages are in flight; the broker keeps
// the session, so the session resends them (DUP) on a connection with no
// aliases. A message sent with an alias the broker does not know would end
// the connection (0x94) again and again and be dropped.
func TestAliasAcrossConnectionCuts(t *testing.T) {
	peers := map[string]func(t *testing.T) string{
		"embedded": func(t *testing.T) string {
			return strings.TrimPrefix(testenv.StartBroker(t, broker.Options{}).URL("mqtt"), "mqtt://")
		},
		"mosquitto": func(t *testing.T) string {
			return testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: "max_topic_alias 10\n"}).Addr()
		},
	}
	for name, start := range peers {
		t.Run(name, func(t *testing.T) {
			addr := start(t)
			col := newCollector()
			sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", addr, "--client-id", "alias-sub")
			if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "alias/#", QoS: 1}}); err != nil {
				t.Fatal(err)
			}
			r := relay.Start(t, addr)
			var connects atomic.Int32
			pub := dialSession(t, Options{Reconnect: true, TopicAlias: true, OnConnect: func(c Capabilities) {
				connects.Add(1)
				if c.TopicAliasMaximum == 0 {
					t.Errorf("%s allows no topic aliases", name)
				}
			}}, "--endpoint", r.Addr(), "--client-id", "alias-pub", "--session-expiry", "1h")
			const n, cuts = 3000, 3
			var failed atomic.Pointer[error]
			go func() {
				for i := 0; i < n; i++ {
					topic, payload := aliasPayload(i)
					err := pub.Publish(context.Background(), &Message{Topic: topic, Payload: payload, QoS: 1}, func(err error) {
						if err != nil {
							failed.Store(&err)
						}
					})
					if err != nil {
						failed.Store(&err)
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
			if err := failed.Load(); err != nil {
				t.Fatal(*err)
			}
			if c := connects.Load(); c < 2 {
				t.Errorf("%d connections: the cuts did not reconnect", c)
			}
		})
	}
}

// Against the embedded broker restarted with no state while QoS 1 messages
// are in flight (withheld, unacknowledged): they are published again on
// the new broker with their topics, then aliases are set anew.
func TestAliasAcrossBrokerRestart(t *testing.T) {
	var open atomic.Bool // the broker acknowledges and delivers
	withhold := &fnHook{onPublish: func(cl *broker.Client, pk mpackets.Packet) (mpackets.Packet, error) {
		if !open.Load() && cl.ID == "alias-pub" {
			return pk, mpackets.ErrRejectPacket
		}
		return pk, nil
	}}
	opts := broker.Options{Hooks: []broker.Hook{withhold}}
	b := testenv.StartBroker(t, opts)
	pub := dialSession(t, Options{Reconnect: true, TopicAlias: true}, "--endpoint", b.URL("mqtt"), "--client-id", "alias-pub", "--session-expiry", "1h")
	const n = 30
	for i := 0; i < n/2; i++ {
		topic, payload := aliasPayload(i)
		if err := pub.Publish(context.Background(), &Message{Topic: topic, Payload: payload, QoS: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	b = restartBroker(t, b, opts)
	col := newCollector()
	sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", b.URL("mqtt"), "--client-id", "alias-sub")
	if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "alias/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	open.Store(true)
	// The publisher may have sent them to the new broker while it withheld
	// them: a cut makes it send them again.
	killConn(pub)
	for i := n / 2; i < n; i++ {
		topic, payload := aliasPayload(i)
		if err := pub.Publish(context.Background(), &Message{Topic: topic, Payload: payload, QoS: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkAliasDelivery(t, col, n)
}

// The aliased hot path allocates nothing per message once the alias is set.
func TestAliasWriteDoesNotAllocate(t *testing.T) {
	c := &conn{s: &Session{}, bw: bufio.NewWriter(io.Discard), aliases: &aliases{max: 10, byTopic: map[string]uint16{}}}
	m := &Message{Topic: "a/b/c", Payload: make([]byte, 64), QoS: 1}
	c.writePublish(wItem{m: m, qos: 1, id: 1})
	if n := testing.AllocsPerRun(1000, func() { c.writePublish(wItem{m: m, qos: 1, id: 2}) }); n != 0 {
		t.Errorf("%.1f allocations per aliased PUBLISH", n)
	}
	if w := c.s.Wire(); w.Publishes < 1001 || w.PublishBytes >= w.FullBytes {
		t.Errorf("wire %+v", w)
	}
}

// BenchmarkWritePublish is the writer's cost per PUBLISH (encoding, alias
// lookup, counting) with full topics and with topic aliases.
func BenchmarkWritePublish(b *testing.B) {
	for _, alias := range []bool{false, true} {
		b.Run(map[bool]string{false: "full", true: "alias"}[alias], func(b *testing.B) {
			c := &conn{s: &Session{}, bw: bufio.NewWriterSize(io.Discard, 64<<10)}
			if alias {
				c.aliases = &aliases{max: 10, byTopic: map[string]uint16{}}
			}
			m := &Message{Topic: "iotctl/bench/8cdc5d/0", Payload: benchPayload, QoS: 1}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.writePublish(wItem{m: m, qos: 1, id: uint16(i) | 1})
			}
			w := c.s.Wire()
			b.ReportMetric(float64(w.PublishBytes)/float64(w.Publishes), "B/publish")
		})
	}
}
