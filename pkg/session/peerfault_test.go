package session

import (
	"bufio"
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/fakepeer"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// multiFake accepts connections for ever, answers each CONNECT with
// connack (or a plain CONNACK when nil) and hands the connection, numbered
// from 0, to script.
type multiFake struct{ *fakepeer.Server }

func startMultiFake(t *testing.T, connack []byte, script func(n int, c net.Conn, r *bufio.Reader)) *multiFake {
	t.Helper()
	if connack == nil {
		connack = []byte{0x20, 3, 0, 0, 0}
	}
	return &multiFake{fakepeer.Listen(t, func(n int, c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := packets.ReadPacket(r); err != nil {
			return
		}
		if _, err := c.Write(connack); err != nil {
			return
		}
		script(n, c, r)
	})}
}

func (f *multiFake) endpoint() string { return f.Addr() }

// rawPacket is a fixed header byte, a Remaining Length and body.
func rawPacket(b0 byte, body []byte) []byte { return fakepeer.Packet(b0, body) }

// malformed are packets no broker may send, by what is wrong with them.
var malformed = []struct {
	name, want string
	pkt        []byte
}{
	{"remaining length over 4 bytes", `packet: malformed Remaining Length \(more than 4 bytes\)`, []byte{0xD0, 0x80, 0x80, 0x80, 0x80, 0x01}},
	{"packet type 0", `packet: reserved packet type 0`, []byte{0x00, 0x00}},
	{"PUBLISH with QoS 3", `PUBLISH: QoS 3 \(both QoS bits set\)`, rawPacket(0x36, []byte{0, 1, 't', 0, 1, 0, 'x'})},
	{"property length beyond the packet", `PUBLISH: property length 10 exceeds the 2 bytes left in the packet`, rawPacket(0x30, []byte{0, 1, 't', 10, 1, 1})},
	{"topic length beyond the packet", `PUBLISH: topic length 50 exceeds the 1 bytes left in the packet`, rawPacket(0x30, []byte{0, 50, 't'})},
	{"property not of PUBLISH", `PUBLISH: property identifier 0x63 is not a PUBLISH property`, rawPacket(0x30, []byte{0, 1, 't', 2, 0x63, 0})},
	{"string property past the block", `PUBLISH: property 0x03: length 9 runs past the end of the properties`, rawPacket(0x30, []byte{0, 1, 't', 3, 0x03, 0, 9, 'h', 'i'})},
	{"topic alias from the broker", `PUBLISH: Topic Alias 5 from the broker, which iotctl allows none \(Topic Alias Maximum 0\)`, rawPacket(0x30, []byte{0, 1, 't', 3, 0x23, 0, 5, 'x'})},
	{"topic alias 0", `PUBLISH: Topic Alias 0 from the broker`, rawPacket(0x30, []byte{0, 1, 't', 3, 0x23, 0, 0, 'x'})},
	{"topic alias without topic", `PUBLISH: empty topic`, rawPacket(0x30, []byte{0, 0, 3, 0x23, 0, 1, 'x'})},
	{"property twice", `PUBLISH: property 0x01 more than once`, rawPacket(0x30, []byte{0, 1, 't', 4, 0x01, 0, 0x01, 1, 'x'})},
	{"response topic twice", `PUBLISH: property 0x08 more than once`, rawPacket(0x30, []byte{0, 1, 't', 8, 0x08, 0, 1, 'a', 0x08, 0, 1, 'b'})},
	{"subscription identifier 0", `PUBLISH: Subscription Identifier 0`, rawPacket(0x30, []byte{0, 1, 't', 2, 0x0B, 0, 'x'})},
	{"PUBACK flags", `PUBACK: fixed header flags 0x1, must be 0`, []byte{0x41, 2, 0, 1}},
	{"SUBSCRIBE from the broker", `SUBSCRIBE: a broker must not send this packet`, rawPacket(0x82, []byte{0, 1, 0, 0, 1, 't', 0})},
}

// Every malformed packet ends the connection with a ProtocolError naming
// the packet and the violation; the first is a warning whatever -v says;
// the session backs off and gives up after MaxReconnects (kind Connect).
func TestMalformedPacketsFromTheBroker(t *testing.T) {
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			f := startMultiFake(t, nil, func(n int, c net.Conn, r *bufio.Reader) {
				c.Write(tc.pkt)
				for {
					if _, err := packets.ReadPacket(r); err != nil {
						return
					}
				}
			})
			var mu sync.Mutex
			var warnings []string
			s := dialSession(t, Options{Reconnect: true, MaxReconnects: 2, Handler: func(*Message) error {
				t.Error("a malformed packet reached the handler")
				return nil
			}, Warn: func(m string) { mu.Lock(); warnings = append(warnings, m); mu.Unlock() }}, "--endpoint", f.endpoint())
			select {
			case <-s.Done():
			case <-time.After(20 * time.Second):
				t.Fatal("the session did not give up")
			}
			err := s.Err()
			var pe *ProtocolError
			if !errors.As(err, &pe) || errs.KindOf(err) != errs.Connect {
				t.Fatalf("Err() = %v (%T), want a ProtocolError of kind Connect", err, err)
			}
			if !strings.Contains(err.Error(), "gave up after 2 failed reconnects in a row") {
				t.Errorf("Err() = %v, want it to say it gave up", err)
			}
			if !matches(tc.want, pe.Error()) {
				t.Errorf("violation %q does not match %q", pe.Error(), tc.want)
			}
			if n := f.Conns(); n != 3 {
				t.Errorf("%d connections, want 3 (the first and 2 reconnects)", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(warnings) != 1 || !strings.Contains(warnings[0], "protocol violation by the broker") {
				t.Errorf("warnings %q, want one about the protocol violation", warnings)
			}
		})
	}
}

// A broker that drops every connection right after CONNACK is a failed
// reconnect each time: the session gives up after MaxReconnects, and the
// max-reconnects setting wins over the command's default.
func TestGiveUpOnConnectionsThatFailAtOnce(t *testing.T) {
	f := startMultiFake(t, nil, func(n int, c net.Conn, r *bufio.Reader) {})
	st := testSettings(t, "--endpoint", f.endpoint(), "--max-reconnects", "3")
	s := dialSession(t, Options{Settings: st, Reconnect: true, MaxReconnects: 50})
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the session did not give up")
	}
	if err := s.Err(); errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "(--max-reconnects 3)") {
		t.Fatalf("Err() = %v, want a Connect error naming --max-reconnects 3", err)
	}
	if n := f.Conns(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
}

// A message the broker drops the connection over is dropped after 3
// strikes, the last alone in flight; the messages around it are delivered
// once and the window opens again.
func TestPoisonMessageIsDropped(t *testing.T) {
	t.Run("connection closed", func(t *testing.T) { testPoison(t, nil, "closed by the broker") })
	// A DISCONNECT that blames the message ends the session only when
	// nothing was in flight: here it is counted against the message.
	t.Run("DISCONNECT 0x99", func(t *testing.T) {
		testPoison(t, []byte{0xE0, 1, 0x99}, `payload format invalid \(0x99\)`)
	})
}

func testPoison(t *testing.T, disconnect []byte, why string) {
	var mu sync.Mutex
	got := map[string]int{}
	f := startMultiFake(t, nil, func(n int, c net.Conn, r *bufio.Reader) {
		for {
			cp, err := packets.ReadPacket(r)
			if err != nil {
				return
			}
			p, ok := cp.Content.(*packets.Publish)
			if !ok {
				continue
			}
			mu.Lock()
			got[string(p.Payload)]++
			mu.Unlock()
			if string(p.Payload) == "poison" {
				c.Write(disconnect)
				return // close, as mosquitto does on a malformed property
			}
			a := packets.NewControlPacket(packets.PUBACK)
			a.Content.(*packets.Puback).PacketID = p.PacketID
			a.WriteTo(c)
		}
	})
	var warned atomic.Int32
	s := dialSession(t, Options{Reconnect: true, MaxReconnects: 10, Warn: func(string) { warned.Add(1) }}, "--endpoint", f.endpoint())
	results := make([]error, 3)
	var wg sync.WaitGroup
	for i, payload := range []string{"a", "poison", "c"} {
		wg.Add(1)
		i := i
		if err := s.Publish(context.Background(), &Message{Topic: "t", QoS: 1, Payload: []byte(payload)}, func(err error) { results[i] = err; wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if results[0] != nil || results[2] != nil {
		t.Errorf("a: %v, c: %v; want both acknowledged", results[0], results[2])
	}
	var de *DroppedError
	if !errors.As(results[1], &de) || de.Tries != 3 || errs.KindOf(results[1]) != errs.Refused {
		t.Fatalf("poison: %v, want a DroppedError after 3 tries, kind Refused", results[1])
	}
	if !matches(why, results[1].Error()) {
		t.Errorf("poison: %v, want it to say %s", results[1], why)
	}
	mu.Lock()
	// 3 strikes. A bare close on a connection that acknowledged "a" first
	// blames nothing, so the poison message may be sent once or (when
	// that PUBACK was lost in the broker's reset) twice more; a DISCONNECT
	// that blames a packet always counts.
	if n := got["poison"]; n < 3 || n > 5 || (disconnect != nil && n != 3) {
		t.Errorf("the broker got the poison message %d times, want 3 (4 or 5 for a bare close)", n)
	}
	if got["a"] < 1 || got["c"] < 1 {
		t.Errorf("the broker got %v", got)
	}
	mu.Unlock()
	if warned.Load() != 0 {
		t.Errorf("%d warnings, want none: the dropped message is reported through done", warned.Load())
	}
	if s.Unacked() != 0 {
		t.Errorf("%d unacknowledged", s.Unacked())
	}
	// The window is open again: many messages go out in flight together.
	for i := 0; i < 50; i++ {
		s.Publish(context.Background(), &Message{Topic: "t", QoS: 1, Payload: []byte("more")}, nil)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	careful := s.careful
	s.mu.Unlock()
	if careful != 0 {
		t.Errorf("careful = %d after the poison message went", careful)
	}
}

// A reason string in a refused CONNACK reaches the error with its control
// characters escaped: it cannot set the terminal title or forge a line.
func TestReasonStringEscaped(t *testing.T) {
	evil := "\x1b]0;pwned\x07\r\niotctl: all good"
	props := append([]byte{0x1F, 0, byte(len(evil))}, evil...)
	body := append([]byte{0, 0x87, byte(len(props))}, props...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		packets.ReadPacket(bufio.NewReader(c))
		c.Write(rawPacket(0x20, body))
	}()
	st := testSettings(t, "--endpoint", ln.Addr().String())
	_, err = Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if err == nil {
		t.Fatal("connected")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\x07\r\n") {
		t.Fatalf("error keeps control characters: %q", msg)
	}
	if !strings.Contains(msg, `\x1b]0;pwned\x07\r\niotctl: all good`) {
		t.Fatalf("error %q does not show the escaped reason string", msg)
	}
}

func testSettings(t testing.TB, args ...string) *profile.Settings {
	t.Helper()
	return testenv.Settings(t, args...)
}

func matches(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
