package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// Close while QoS 1 and 2 messages are in flight under Receive Maximum 2,
// the broker acknowledging some then none, and publishers blocked on the
// full window: Close returns, every Publish returns, and every done
// callback of a message Publish took is called exactly once (nil for the
// acknowledged, ErrClosed for the rest).
func TestCloseWithBlockedPublishers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const acked = 5
	stalled := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		packets.ReadPacket(r)
		ack := packets.NewControlPacket(packets.CONNACK)
		rm := uint16(2)
		ack.Content.(*packets.Connack).Properties = &packets.Properties{ReceiveMaximum: &rm}
		ack.WriteTo(c)
		done := 0
		for {
			cp, err := packets.ReadPacket(r)
			if err != nil || cp.Type == packets.DISCONNECT {
				return
			}
			switch p := cp.Content.(type) {
			case *packets.Publish:
				if done >= acked {
					if done == acked {
						close(stalled)
						done++
					}
					continue
				}
				done++
				if p.QoS == 1 {
					puback(c, p.PacketID)
				} else {
					a := packets.NewControlPacket(packets.PUBREC)
					a.Content.(*packets.Pubrec).PacketID = p.PacketID
					a.WriteTo(c)
				}
			case *packets.Pubrel:
				a := packets.NewControlPacket(packets.PUBCOMP)
				a.Content.(*packets.Pubcomp).PacketID = p.PacketID
				a.WriteTo(c)
			}
		}
	}()
	s := dialSession(t, Options{}, "--endpoint", ln.Addr().String())
	const workers, each = 3, 20
	var mu sync.Mutex
	calls := map[int]int{}
	var okCount, closedCount, published int
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				i := w*each + k
				err := s.Publish(context.Background(), &Message{Topic: "t", Payload: []byte(fmt.Sprint(i)), QoS: byte(1 + i%2)}, func(err error) {
					mu.Lock()
					defer mu.Unlock()
					calls[i]++
					switch {
					case err == nil:
						okCount++
					case errors.Is(err, ErrClosed):
						closedCount++
					default:
						t.Errorf("message %d: %v", i, err)
					}
				})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				published++
				mu.Unlock()
			}
		}()
	}
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the broker got no unacknowledged PUBLISH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx, 0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i, c := range calls {
		if c != 1 {
			t.Errorf("message %d: done called %d times", i, c)
		}
	}
	// The last acknowledgements may still be on their way at Close.
	if okCount > acked || closedCount == 0 || okCount+closedCount != published || len(calls) != published {
		t.Errorf("%d published, %d acknowledged, %d closed, %d called back; want at most %d acknowledged, the rest closed", published, okCount, closedCount, len(calls), acked)
	}
}
