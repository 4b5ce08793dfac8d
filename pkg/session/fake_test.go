package session

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/fakepeer"
	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/eclipse/paho.golang/packets"
	"go.uber.org/goleak"
)

// fakeBroker accepts one connection, answers CONNECT, then hands the
// connection to script.
type fakeBroker struct {
	port int
}

func startFake(t *testing.T, script func(c net.Conn, r *bufio.Reader)) *fakeBroker {
	t.Helper()
	srv := fakepeer.ServeOne(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		if _, err := packets.ReadPacket(r); err != nil {
			return
		}
		ack := packets.NewControlPacket(packets.CONNACK)
		if _, err := ack.WriteTo(c); err != nil {
			return
		}
		script(c, r)
	})
	_, port, _ := net.SplitHostPort(srv.Addr())
	n, _ := strconv.Atoi(port)
	return &fakeBroker{port: n}
}

func (f *fakeBroker) endpoint() string { return "127.0.0.1:" + strconv.Itoa(f.port) }

// serveReconnects serves the first two connections to 127.0.0.1, one
// after the other: it reads each CONNECT, answers CONNACK with Session
// Present on the second (conn 1), and hands the connection to script,
// which closes it. It returns the address.
func serveReconnects(t *testing.T, script func(conn int, c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for conn := 0; conn < 2; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			packets.ReadPacket(r)
			ack := packets.NewControlPacket(packets.CONNACK)
			ack.Content.(*packets.Connack).SessionPresent = conn == 1
			ack.WriteTo(c)
			script(conn, c, r)
		}
	}()
	return ln.Addr().String()
}

func publishPacket(id uint16, qos byte, dup bool, payload string) *packets.ControlPacket {
	cp := packets.NewControlPacket(packets.PUBLISH)
	p := cp.Content.(*packets.Publish)
	p.PacketID, p.QoS, p.Duplicate, p.Topic, p.Payload = id, qos, dup, "q2", []byte(payload)
	return cp
}

// readUntil reads packets until one of type typ arrives.
func readUntil(t *testing.T, r *bufio.Reader, typ byte) *packets.ControlPacket {
	for {
		cp, err := packets.ReadPacket(r)
		if err != nil {
			t.Errorf("fake broker: waiting for %s: %v", packetName(typ), err)
			return nil
		}
		if cp.Type == typ {
			return cp
		}
	}
}

// An inbound QoS 2 message is handled once per packet ID even when the
// broker sends it again before PUBREL, and every ack waits for the handler.
func TestInboundQoS2ExactlyOnceAndAckAfterHandler(t *testing.T) {
	release := make(chan struct{})
	var handled atomic.Int32
	steps := make(chan string, 16)
	f := startFake(t, func(c net.Conn, r *bufio.Reader) {
		publishPacket(7, 2, false, "one").WriteTo(c)
		// The handler holds the message: no PUBREC may come.
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if cp, err := packets.ReadPacket(r); err == nil {
			t.Errorf("got %s while the handler was busy", cp.PacketType())
		}
		c.SetReadDeadline(time.Time{})
		close(release)
		if cp := readUntil(t, r, packets.PUBREC); cp == nil || cp.PacketID() != 7 {
			return
		}
		steps <- "pubrec"
		publishPacket(7, 2, true, "one").WriteTo(c) // a resend before PUBREL
		if cp := readUntil(t, r, packets.PUBREC); cp == nil || cp.PacketID() != 7 {
			return
		}
		steps <- "pubrec again"
		rel := packets.NewControlPacket(packets.PUBREL)
		rel.Content.(*packets.Pubrel).PacketID = 7
		rel.WriteTo(c)
		if cp := readUntil(t, r, packets.PUBCOMP); cp == nil || cp.PacketID() != 7 {
			return
		}
		steps <- "pubcomp"
		// After PUBREL the ID is free: the same ID is a new message.
		publishPacket(7, 2, false, "two").WriteTo(c)
		if cp := readUntil(t, r, packets.PUBREC); cp != nil {
			steps <- "pubrec two"
		}
		readUntil(t, r, packets.DISCONNECT)
	})
	s := dialSession(t, Options{Handler: func(m *Message) error {
		if handled.Add(1) == 1 {
			<-release
		}
		return nil
	}}, "--endpoint", f.endpoint())
	for _, want := range []string{"pubrec", "pubrec again", "pubcomp", "pubrec two"} {
		select {
		case got := <-steps:
			if got != want {
				t.Fatalf("step %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	if n := handled.Load(); n != 2 {
		t.Fatalf("handler called %d times, want 2", n)
	}
	s.Close(context.Background(), 0)
}

// With Session Present 1, unacknowledged messages are sent again with DUP
// and QoS 2 messages past PUBREC get a PUBREL.
func TestResendWithDupOnSessionPresent(t *testing.T) {
	got := make(chan string, 16)
	addr := serveReconnects(t, func(conn int, c net.Conn, r *bufio.Reader) {
		if conn == 0 {
			p1 := readUntil(t, r, packets.PUBLISH) // QoS 1: never acked
			p2 := readUntil(t, r, packets.PUBLISH) // QoS 2: PUBREC only
			_ = p1
			rec := packets.NewControlPacket(packets.PUBREC)
			rec.Content.(*packets.Pubrec).PacketID = p2.PacketID()
			rec.WriteTo(c)
			readUntil(t, r, packets.PUBREL)
			c.Close()
			return
		}
		for i := 0; i < 2; i++ {
			cp, err := packets.ReadPacket(r)
			if err != nil {
				return
			}
			switch p := cp.Content.(type) {
			case *packets.Publish:
				got <- "publish dup=" + strconv.FormatBool(p.Duplicate)
				a := packets.NewControlPacket(packets.PUBACK)
				a.Content.(*packets.Puback).PacketID = p.PacketID
				a.WriteTo(c)
			case *packets.Pubrel:
				got <- "pubrel"
				a := packets.NewControlPacket(packets.PUBCOMP)
				a.Content.(*packets.Pubcomp).PacketID = p.PacketID
				a.WriteTo(c)
			}
		}
		readUntil(t, r, packets.DISCONNECT)
		c.Close()
	})
	s := dialSession(t, Options{Reconnect: true}, "--endpoint", addr, "--client-id", "dup", "--session-expiry", "60")
	s.Publish(context.Background(), &Message{Topic: "a", Payload: []byte("1"), QoS: 1}, nil)
	s.Publish(context.Background(), &Message{Topic: "a", Payload: []byte("2"), QoS: 2}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{<-got: true, <-got: true}
	if !seen["publish dup=true"] || !seen["pubrel"] {
		t.Fatalf("resent %v", seen)
	}
	s.Close(context.Background(), 0)
}

// No goroutine of the session outlives Close.
func TestNoGoroutineLeak(t *testing.T) {
	f := startFake(t, func(c net.Conn, r *bufio.Reader) {
		for {
			cp, err := packets.ReadPacket(r)
			if err != nil {
				return
			}
			switch p := cp.Content.(type) {
			case *packets.Publish:
				if p.QoS == 1 {
					a := packets.NewControlPacket(packets.PUBACK)
					a.Content.(*packets.Puback).PacketID = p.PacketID
					a.WriteTo(c)
				}
			case *packets.Subscribe:
				a := packets.NewControlPacket(packets.SUBACK)
				a.Content.(*packets.Suback).PacketID = p.PacketID
				a.Content.(*packets.Suback).Reasons = []byte{1}
				a.WriteTo(c)
				publishPacket(1, 1, false, "x").WriteTo(c)
			case *packets.Disconnect:
				return
			}
		}
	})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	st := testenv.Settings(t, "--endpoint", f.endpoint(), "--keepalive", "1")
	got := make(chan struct{}, 1)
	s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st), Reconnect: true,
		Handler: func(*Message) error { got <- struct{}{}; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(context.Background(), []Subscription{{Filter: "x", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	<-got
	for i := 0; i < 100; i++ {
		s.Publish(context.Background(), &Message{Topic: "x", QoS: byte(i % 2)}, nil)
	}
	s.Flush(context.Background())
	if err := s.Close(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
}
