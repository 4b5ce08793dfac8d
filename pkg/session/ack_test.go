package session

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/errs"
)

// expectSilence fails when the fake broker receives a packet within d.
func expectSilence(t *testing.T, c net.Conn, r *bufio.Reader, d time.Duration, why string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	if cp, err := packets.ReadPacket(r); err == nil {
		t.Errorf("got %s %s", cp.PacketType(), why)
	}
	c.SetReadDeadline(time.Time{})
}

// A handler that returns DeferAck acknowledges with Session.Ack, in order,
// and nothing is acknowledged before.
func TestDeferredAck(t *testing.T) {
	acked := make(chan string, 8)
	f := startFake(t, func(c net.Conn, r *bufio.Reader) {
		publishPacket(1, 1, false, "one").WriteTo(c)
		publishPacket(2, 2, false, "two").WriteTo(c)
		publishPacket(0, 0, false, "three").WriteTo(c)
		expectSilence(t, c, r, 300*time.Millisecond, "before the handler acknowledged")
		acked <- "silent"
		for range 2 {
			cp, err := packets.ReadPacket(r)
			if err != nil {
				t.Error(err)
				return
			}
			acked <- cp.PacketType()
		}
		readUntil(t, r, packets.DISCONNECT)
	})
	acks := make(chan Ack, 8)
	drained := make(chan struct{}, 8)
	s := dialSession(t, Options{
		Handler: func(m *Message) error { acks <- m.Ack(); return DeferAck },
		Drained: func() { drained <- struct{}{} },
	}, "--endpoint", f.endpoint())
	var held []Ack
	for range 3 {
		select {
		case a := <-acks:
			held = append(held, a)
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not get three messages")
		}
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("Drained was not called")
	}
	if got := <-acked; got != "silent" {
		t.Fatalf("%s before the handler acknowledged", got)
	}
	s.Ack(held...)
	for _, want := range []string{"PUBACK", "PUBREC"} {
		select {
		case got := <-acked:
			if got != want {
				t.Fatalf("%s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", want)
		}
	}
	s.Close(context.Background(), 0)
}

// A QoS 2 message redelivered on a new connection while the handler still
// holds the first copy is neither handled again nor acknowledged before
// the handler acknowledges the first copy; that acknowledgement answers
// the redelivery on the new connection.
func TestDeferredQoS2Redelivery(t *testing.T) {
	steps := make(chan string, 8)
	proceed := make(chan struct{})
	addr := serveReconnects(t, func(conn int, c net.Conn, r *bufio.Reader) {
		if conn == 0 {
			publishPacket(7, 2, false, "one").WriteTo(c)
			steps <- "sent"
			<-proceed // the handler has it
			c.Close()
			return
		}
		publishPacket(7, 2, true, "one").WriteTo(c)
		expectSilence(t, c, r, 300*time.Millisecond, "for a redelivery the handler still holds")
		steps <- "silent"
		if cp := readUntil(t, r, packets.PUBREC); cp == nil || cp.PacketID() != 7 {
			return
		}
		rel := packets.NewControlPacket(packets.PUBREL)
		rel.Content.(*packets.Pubrel).PacketID = 7
		rel.WriteTo(c)
		if cp := readUntil(t, r, packets.PUBCOMP); cp != nil {
			steps <- "pubcomp"
		}
		readUntil(t, r, packets.DISCONNECT)
		c.Close()
	})
	acks := make(chan Ack, 8)
	s := dialSession(t, Options{Reconnect: true, Handler: func(m *Message) error { acks <- m.Ack(); return DeferAck }},
		"--endpoint", addr, "--client-id", "q2", "--session-expiry", "60")
	wait := func(ch <-chan string, want string) {
		t.Helper()
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("%q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	wait(steps, "sent")
	var a Ack
	select {
	case a = <-acks:
	case <-time.After(10 * time.Second):
		t.Fatal("not handled")
	}
	close(proceed)
	wait(steps, "silent")
	select {
	case <-acks:
		t.Fatal("the redelivery was handled again")
	default:
	}
	s.Ack(a)
	wait(steps, "pubcomp")
	s.Close(context.Background(), 0)
}

// CONNECT carries the Maximum Packet Size: 256 MiB by default, 256 KiB
// under the aws-iot limits, or --max-packet-size.
func TestConnectMaximumPacketSize(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want uint32
	}{
		{nil, 256 << 20},
		{[]string{"--limits", "aws-iot"}, 256 << 10},
		{[]string{"--max-packet-size", "4096"}, 4096},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan uint32, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			cp, err := packets.ReadPacket(r)
			if err != nil {
				return
			}
			if v := cp.Content.(*packets.Connect).Properties.MaximumPacketSize; v != nil {
				got <- *v
			} else {
				got <- 0
			}
			packets.NewControlPacket(packets.CONNACK).WriteTo(c)
			readUntil(t, r, packets.DISCONNECT)
		}()
		st := testenv.Settings(t, append([]string{"--endpoint", ln.Addr().String()}, tt.args...)...)
		o := Options{Settings: st, Provider: testProvider(t, st)}
		if st.Limits == "aws-iot" {
			o.Limits.MaxPacketSize = 256 << 10
		}
		s, err := Connect(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if v := <-got; v != tt.want {
			t.Errorf("%v: Maximum Packet Size %d, want %d", tt.args, v, tt.want)
		}
		s.Close(context.Background(), 0)
		ln.Close()
	}
	for _, bad := range []string{"10", "268435461"} {
		st := testenv.Settings(t, "--endpoint", "127.0.0.1:1", "--max-packet-size", bad)
		_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
		if errs.KindOf(err) != errs.Usage {
			t.Errorf("--max-packet-size %s: %v, want a usage error", bad, err)
		}
	}
}

// A packet over the advertised Maximum Packet Size ends the connection with
// an error that names the setting, before its body is read into memory.
func TestInboundPacketTooLarge(t *testing.T) {
	f := startFake(t, func(c net.Conn, r *bufio.Reader) {
		publishPacket(1, 1, false, string(make([]byte, 5000))).WriteTo(c)
		packets.ReadPacket(r)
	})
	s := dialSession(t, Options{Handler: func(*Message) error { t.Error("handled a packet over the limit"); return nil }},
		"--endpoint", f.endpoint(), "--max-packet-size", "4096")
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "--max-packet-size") {
		t.Fatalf("err %v", err)
	}
}
