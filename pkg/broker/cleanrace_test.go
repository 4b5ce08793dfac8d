package broker

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestCleanStartRace: two connections with one client ID arrive together
// at an offline session, one with clean start: exactly one survives, and
// it gets what is published to it. The race this guards: attach ended a
// clean-started session after releasing the server's lock, so the other
// connection could attach to it in between and live on, connected, with an
// ended session that dropped every delivery (TestTakeoverRace saw it in CI
// as "no packet within 30s"). The window is a few instructions wide: this
// test did not hit it in 300 rounds before the fix; TestTakeoverRace, run
// under load, is the stress that found it.
func TestCleanStartRace(t *testing.T) {
	b, err := New(Options{Home: t.TempDir(), Listen: "127.0.0.1:0", CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, addr, _ := cutURL(b.URL(MQTT))
	pub := dialRaw(t, b)
	pub.connect(connectPacket("pub", 5, true))

	for round := range 40 {
		id := fmt.Sprintf("race-%d", round)
		// An offline session with a subscription.
		first := dialRaw(t, b)
		cp := connectPacket(id, 5, true)
		cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 60, true
		first.connect(cp)
		first.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
		first.nc.Close()
		for sessionOnline(b, id) {
			time.Sleep(time.Millisecond)
		}

		topic := "race/" + id
		ready := make(chan struct{}, 2) // subscribed or taken over
		got := make(chan struct{}, 2)   // a message after the mark
		finish := make(chan struct{})
		results := make([]string, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, clean := range []bool{true, false} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = cleanRaceClient(addr, id, clean, start, ready, got, finish)
			}()
		}
		close(start)
		<-ready
		<-ready
		// Publish until the survivor has one (at most 10 s).
		deadline := time.Now().Add(10 * time.Second)
	publish:
		for time.Now().Before(deadline) {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5,
				TopicName: topic, Payload: []byte("after")}
			if err := pub.write(encodePacket(pk)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
				break publish
			case <-time.After(5 * time.Millisecond):
			}
		}
		close(finish)
		wg.Wait()
		alive := 0
		for _, r := range results {
			switch r {
			case "alive, got it":
				alive++
			case "taken over":
			default:
				t.Fatalf("round %d: %v", round, results)
			}
		}
		if alive != 1 {
			t.Fatalf("round %d: %v: want exactly one connection alive, getting messages", round, results)
		}
	}
}

// cleanRaceClient connects and subscribes (then signals ready), and reads
// until finish: "taken over" when the broker closed it, else "alive, got
// it" or "alive, got nothing" for a message published after ready.
func cleanRaceClient(addr, id string, clean bool, start <-chan struct{}, ready, got chan<- struct{}, finish <-chan struct{}) string {
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		ready <- struct{}{}
		return err.Error()
	}
	defer nc.Close()
	r := newRaw(nil, nc)
	cp := connectPacket(id, 5, clean)
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 60, true
	<-start
	signalled, gotIt := false, false
	signal := func() {
		if !signalled {
			signalled = true
			ready <- struct{}{}
		}
	}
	defer signal()
	if err := r.write(encodePacket(cp)); err != nil {
		return "taken over"
	}
	for {
		pk, err := r.readWithin(50 * time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				select {
				case <-finish:
					if gotIt {
						return "alive, got it"
					}
					return "alive, got nothing"
				default:
					continue
				}
			}
			return "taken over" // closed
		}
		switch pk.FixedHeader.Type {
		case packets.Connack:
			if pk.ReasonCode != 0 {
				return fmt.Sprintf("CONNACK %#x", pk.ReasonCode)
			}
			sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: "race/" + id}}}
			if err := r.write(encodePacket(sub)); err != nil {
				return "taken over"
			}
		case packets.Suback:
			signal()
		case packets.Publish:
			if signalled && !gotIt {
				gotIt = true
				got <- struct{}{}
			}
		case packets.Disconnect:
			return "taken over"
		}
	}
}

// sessionOnline reports whether id's session has a connection.
func sessionOnline(b *Broker, id string) bool {
	s := b.server
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	return ss != nil && ss.online()
}
