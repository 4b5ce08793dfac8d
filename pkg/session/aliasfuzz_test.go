package session

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// A fake broker that changes its Topic Alias Maximum and Receive Maximum
// on every connection (twice losing the session) and cuts connections at
// random points (seeded):
// every PUBLISH is checked against MQTT 5's rules on its connection (an
// alias-only PUBLISH only after that alias was set on this connection, no
// alias above the maximum, no more QoS>=1 messages unacknowledged than the
// Receive Maximum), every QoS 1 and 2 message arrives, and every done
// callback is called exactly once, without an error but for QoS 0 ones.
func TestAliasAndWindowAcrossRandomCuts(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { aliasFuzz(t, seed) })
	}
}

type fuzzConn struct {
	tam, rm uint16
	lost    bool // Session Present 0: the broker lost the session
}

func aliasFuzz(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	plan := []fuzzConn{{10, 20, false}, {2, 2, false}, {0, 1, false}, {5, 199, true}, {1, 200, false}, {3, 1000, false}, {0, 2, true}, {10, 20, false}}
	const n, topics = 600, 14
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	arrived := map[string]int{}
	conns := 0
	fail := func(format string, a ...any) {
		t.Errorf(format, a...)
	}
	cutAfter := make([]int, len(plan))
	// At most 7 × 44 = 308 PUBLISHes before the last cut, well under the
	// 600 sent: QoS 0 messages written into a cut connection are never
	// seen, and with cuts up to 125 the last one sometimes never came.
	for i := range cutAfter {
		cutAfter[i] = 5 + rng.IntN(40)
	}
	cutAfter[len(plan)-1] = -1 // the last connection stays
	go func() {
		for conn := 0; ; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			p := plan[min(conn, len(plan)-1)]
			cut := -1
			if conn < len(plan) {
				cut = cutAfter[conn]
			}
			r := bufio.NewReader(c)
			packets.ReadPacket(r)
			ack := packets.NewControlPacket(packets.CONNACK)
			ca := ack.Content.(*packets.Connack)
			ca.SessionPresent = conn > 0 && !p.lost
			ca.Properties = &packets.Properties{ReceiveMaximum: &p.rm}
			if p.tam > 0 {
				ca.Properties.TopicAliasMaximum = &p.tam
			}
			ack.WriteTo(c)
			set := map[uint16]string{}
			inflight := map[uint16]byte{} // packet ID -> QoS, until the flow ends
			var pending []*packets.ControlPacket
			seen := 0
			for {
				cp, err := packets.ReadPacket(r)
				if err != nil || cp.Type == packets.DISCONNECT {
					break
				}
				switch cp.Type {
				case packets.PUBLISH:
					seen++
					pp := cp.Content.(*packets.Publish)
					var alias uint16
					if pp.Properties != nil && pp.Properties.TopicAlias != nil {
						alias = *pp.Properties.TopicAlias
					}
					topic := pp.Topic
					switch {
					case alias > p.tam:
						fail("conn %d: alias %d above the maximum %d", conn, alias, p.tam)
					case alias != 0 && topic != "":
						set[alias] = topic
					case alias != 0:
						var ok bool
						if topic, ok = set[alias]; !ok {
							fail("conn %d: alias-only PUBLISH with alias %d not set on this connection (id %d dup %t)", conn, alias, pp.PacketID, pp.Duplicate)
						}
					case topic == "":
						fail("conn %d: PUBLISH with neither topic nor alias", conn)
					}
					if want, _, _ := cutPayload(pp.Payload); topic != "" && topic != want {
						fail("conn %d: payload %q on topic %q", conn, pp.Payload, topic)
					}
					mu.Lock()
					arrived[string(pp.Payload)]++
					mu.Unlock()
					if pp.QoS == 0 {
						break
					}
					if _, ok := inflight[pp.PacketID]; !ok {
						inflight[pp.PacketID] = pp.QoS
					}
					if len(inflight) > int(p.rm) {
						fail("conn %d: %d messages in flight, Receive Maximum %d", conn, len(inflight), p.rm)
					}
					if pp.QoS == 1 {
						a := packets.NewControlPacket(packets.PUBACK)
						a.Content.(*packets.Puback).PacketID = pp.PacketID
						pending = append(pending, a)
					} else {
						a := packets.NewControlPacket(packets.PUBREC)
						a.Content.(*packets.Pubrec).PacketID = pp.PacketID
						pending = append(pending, a)
					}
				case packets.PUBREL:
					id := cp.Content.(*packets.Pubrel).PacketID
					// A QoS 2 message counts against Receive Maximum until
					// PUBCOMP, PUBREL resent on a new connection too.
					if _, ok := inflight[id]; !ok {
						inflight[id] = 2
					}
					if len(inflight) > int(p.rm) {
						fail("conn %d: %d messages in flight (PUBREL %d), Receive Maximum %d", conn, len(inflight), id, p.rm)
					}
					a := packets.NewControlPacket(packets.PUBCOMP)
					a.Content.(*packets.Pubcomp).PacketID = id
					pending = append(pending, a)
				}
				if cut >= 0 && seen >= cut {
					break
				}
				if r.Buffered() == 0 || len(pending) > 50 {
					for _, a := range pending {
						a.WriteTo(c)
						switch a.Type {
						case packets.PUBACK:
							delete(inflight, a.Content.(*packets.Puback).PacketID)
						case packets.PUBCOMP:
							delete(inflight, a.Content.(*packets.Pubcomp).PacketID)
						}
					}
					pending = pending[:0]
				}
			}
			c.Close()
		}
	}()

	var cbMu sync.Mutex
	calls := make([]int, n)
	qoses := make([]byte, n)
	s := dialSession(t, Options{Reconnect: true, TopicAlias: true, DropAfter: 1000, Warn: func(string) {}},
		"--endpoint", ln.Addr().String(), "--client-id", "alias-fuzz", "--session-expiry", "1h")
	msgs := make([]*Message, n)
	for i := range msgs {
		topic := fmt.Sprintf("fuzz/%d", rng.IntN(topics))
		qoses[i] = byte(rng.IntN(3))
		msgs[i] = &Message{Topic: topic, Payload: []byte(fmt.Sprintf("%s|%d", topic, i)), QoS: qoses[i]}
	}
	// Odd seeds publish from one goroutine, even ones from 4 at once.
	workers := 1 + 3*int(1-seed%2)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				qos := qoses[i]
				err := s.Publish(context.Background(), msgs[i], func(err error) {
					cbMu.Lock()
					calls[i]++
					cbMu.Unlock()
					if err != nil && qos > 0 { // QoS 0: lost with its connection
						t.Errorf("message %d: %v", i, err)
					}
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cbMu.Lock()
	for i, c := range calls {
		if c != 1 {
			t.Errorf("message %d: done called %d times", i, c)
		}
	}
	cbMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if conns < len(plan) {
		t.Errorf("%d connections, want %d: the cuts did not all happen", conns, len(plan))
	}
	got := map[string]bool{}
	for p := range arrived {
		_, num, _ := cutPayload([]byte(p))
		got[num] = true
	}
	for i, q := range qoses {
		if q > 0 && !got[fmt.Sprint(i)] {
			t.Errorf("QoS %d message %d did not arrive", q, i)
		}
	}
}

func cutPayload(p []byte) (string, string, bool) {
	for i := range p {
		if p[i] == '|' {
			return string(p[:i]), string(p[i+1:]), true
		}
	}
	return "", "", false
}
