package broker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/watchdog"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/goleak"
)

// TestTakeoverRace: two clients with the same client ID connect in a loop
// (clean start true and false mixed, session expiry 60 s) while a
// publisher sends QoS 1 to that session. Nothing may deadlock (watchdog),
// Close returns in time and no goroutine is left behind.
func TestTakeoverRace(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	b, err := New(Options{Home: t.TempDir(), Listen: "127.0.0.1:0", CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = b.Close()
		}
	}()

	var progress atomic.Int64
	stopDog := watchdog.Start(t, &progress, 15*time.Second)
	defer stopDog()

	// Publisher: QoS 1 with a window of 100, counting PUBACKs.
	pub := dialRaw(t, b)
	pub.connect(connectPacket("pub", 5, true))
	stopPub := make(chan struct{})
	var pubWG sync.WaitGroup
	var acked atomic.Int64
	pubWG.Add(2)
	window := make(chan struct{}, 100)
	go func() {
		defer pubWG.Done()
		for {
			pk, err := pub.read()
			if err != nil {
				return
			}
			if pk.FixedHeader.Type == packets.Puback {
				acked.Add(1)
				<-window
			}
		}
	}()
	go func() {
		defer pubWG.Done()
		for i := 1; ; i++ {
			select {
			case <-stopPub:
				return
			case window <- struct{}{}:
			}
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
				TopicName: "take/x", Payload: []byte(fmt.Sprint(i)), PacketID: uint16(i%65535 + 1)}
			if pub.write(encodePacket(pk)) != nil {
				return
			}
		}
	}()

	var connects, busy, received atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 200 {
				if err := takeoverRound(b, rng, &connects, &busy, &received); err != nil {
					t.Error(err)
					return
				}
				progress.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stopPub)
	t.Logf("%d connects (%d refused busy), %d deliveries received, %d publishes acknowledged", connects.Load(), busy.Load(), received.Load(), acked.Load())

	start := time.Now()
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	closed = true
	if d := time.Since(start); d > 2*time.Second+time.Second {
		t.Errorf("Close took %s", d)
	}
	pub.nc.Close()
	pubWG.Wait()
	stopDog()
	goleak.VerifyNone(t, leaks)
}

// takeoverRound connects as "same", subscribes, receives a few deliveries
// and leaves in one of several ways; being taken over is fine.
func takeoverRound(b *Broker, rng *rand.Rand, connects, busy, received *atomic.Int64) error {
	_, addr, _ := cutURL(b.URL(MQTT))
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer nc.Close()
	r := newRaw(nil, nc)
	cp := connectPacket("same", 5, rng.IntN(2) == 0)
	cp.Properties.SessionExpiryInterval, cp.Properties.SessionExpiryIntervalFlag = 60, true
	if err := r.write(encodePacket(cp)); err != nil {
		return nil // the broker may close a connection it is taking over
	}
	ack, err := r.read()
	if err != nil {
		return nil
	}
	if ack.FixedHeader.Type != packets.Connack {
		if ack.FixedHeader.Type == packets.Disconnect && ack.ReasonCode == 0x8E {
			return nil // taken over before our CONNACK was read
		}
		return fmt.Errorf("want CONNACK, got %s", packets.PacketNames[ack.FixedHeader.Type])
	}
	connects.Add(1)
	if ack.ReasonCode == packets.ErrServerBusy.Code {
		busy.Add(1)
		return nil
	}
	if ack.ReasonCode != 0 {
		return fmt.Errorf("CONNACK %#x", ack.ReasonCode)
	}
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "take/#", Qos: 1}}}
	_ = r.write(encodePacket(sub))
	want := rng.IntN(20)
	for n := 0; n < want; {
		pk, err := r.read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no packet within %s", wait)
			}
			return nil // taken over
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			n++
			received.Add(1)
			if rng.IntN(4) > 0 { // sometimes leave a delivery unacknowledged
				_ = r.write(encodePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: 5}))
			}
		case packets.Disconnect:
			return nil // taken over
		}
	}
	switch rng.IntN(3) {
	case 0:
		_ = r.write(encodePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5}))
	case 1: // vanish
	case 2:
		_ = r.write(encodePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5, ReasonCode: 0x04}))
	}
	return nil
}
