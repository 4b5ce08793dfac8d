package session

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
)

// Benchmarks (go test -bench . -run '^$' ./pkg/session/):
//
//   BenchmarkPublish/<tcp|tls>/<qos>/<buffered|unbuffered> against a
//   discard server that acknowledges everything: the client's own cost,
//   and what coalescing writes saves ("unbuffered" writes every packet the
//   way paho does: several writes per PUBLISH, several TLS records).
//   BenchmarkMosquitto/<engine>/<qos> against a real mosquitto
//   (max_inflight_messages 1000): this engine, and paho.Client with one
//   goroutine per in-flight message (its Publish blocks until PUBACK).

// discardServer acknowledges every PUBLISH; reads and ack writes are
// buffered so it is never the bottleneck.
type discardServer struct {
	ln       net.Listener
	received atomic.Int64
	reads    atomic.Int64 // socket reads that returned data: ~ client writes on TCP
	wg       sync.WaitGroup
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.n.Add(1)
	}
	return n, err
}

func startDiscard(b testing.TB, useTLS bool) (*discardServer, []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"--endpoint", "mqtt://" + ln.Addr().String()}
	d := &discardServer{ln: ln}
	var tcfg *tls.Config
	if useTLS {
		ca := testpki.NewCA(b, "bench CA")
		leaf := ca.Server(b, "127.0.0.1")
		tcfg = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
		caFile := testpki.Write(b, b.TempDir(), "ca.pem", ca.PEM)
		args = []string{"--endpoint", "mqtts://" + ln.Addr().String(), "--ca-file", caFile}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var nc net.Conn = countingConn{c, &d.reads}
			if tcfg != nil {
				nc = tls.Server(nc, tcfg)
			}
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.serve(nc) }()
		}
	}()
	b.Cleanup(func() { ln.Close(); d.wg.Wait() })
	return d, args
}

func (d *discardServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	fr := frameReader{r: br}
	cf, err := fr.next()
	if err != nil || len(cf.body) < 7 {
		return
	}
	if cf.body[6] == 4 { // MQTT 3.1.1: CONNACK without properties
		bw.Write([]byte{packets.CONNACK << 4, 2, 0, 0})
	} else {
		ack := packets.NewControlPacket(packets.CONNACK)
		rm := uint16(1000)
		ack.Content.(*packets.Connack).Properties.ReceiveMaximum = &rm
		ack.WriteTo(bw)
	}
	bw.Flush()
	for {
		f, err := fr.next()
		if err != nil {
			return
		}
		switch f.typ() {
		case packets.PUBLISH:
			d.received.Add(1)
			qos := (f.b0 >> 1) & 3
			if qos > 0 {
				tl := int(f.body[0])<<8 | int(f.body[1])
				id := uint16(f.body[2+tl])<<8 | uint16(f.body[3+tl])
				typ := byte(packets.PUBACK)
				if qos == 2 {
					typ = packets.PUBREC
				}
				writeAck(bw, typ, id, 0)
			}
		case packets.PUBREL:
			id, _, _, _ := ackFields(f)
			writeAck(bw, packets.PUBCOMP, id, 0)
		case packets.PINGREQ:
			bw.Write([]byte{packets.PINGRESP << 4, 0})
		case packets.DISCONNECT:
			bw.Flush()
			return
		}
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

var benchPayload = []byte("0123456789012345678901234567890123456789012345678901234567890123")

func benchPublish(b *testing.B, args []string, qos byte) {
	st := testenv.Settings(b, args...)
	s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(b, st)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background(), 0)
	m := &Message{Topic: "bench/topic", Payload: benchPayload, QoS: qos}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := s.Publish(context.Background(), m, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}

func BenchmarkPublish(b *testing.B) {
	for _, transport := range []string{"tcp", "tls"} {
		for _, qos := range []byte{0, 1} {
			// v311: MQTT 3.1.1 (-V 3.1.1), buffered only: the unbuffered
			// mode writes paho's MQTT 5 packets.
			for _, mode := range []string{"buffered", "unbuffered", "v311"} {
				b.Run(fmt.Sprintf("%s/qos%d/%s", transport, qos, mode), func(b *testing.B) {
					unbufferedWrites = mode == "unbuffered"
					defer func() { unbufferedWrites = false }()
					d, args := startDiscard(b, transport == "tls")
					if mode == "v311" {
						args = append(args, "-V", "3.1.1")
					}
					benchPublish(b, args, qos)
					if qos == 1 {
						// QoS 0 may still be in flight at the server.
						b.ReportMetric(float64(d.reads.Load())/float64(b.N), "reads/msg")
					}
				})
			}
		}
	}
}

// BenchmarkMosquitto compares engines against a real broker. Point
// IOTCTL_BENCH_MOSQUITTO at a running one (host:port) or let it start one.
func BenchmarkMosquitto(b *testing.B) {
	addr := os.Getenv("IOTCTL_BENCH_MOSQUITTO")
	if addr == "" {
		m := testpeer.StartMosquitto(b, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
		addr = m.Addr()
	}
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("session/qos%d", qos), func(b *testing.B) {
			benchPublish(b, []string{"--endpoint", "mqtt://" + addr}, qos)
		})
		b.Run(fmt.Sprintf("session311/qos%d", qos), func(b *testing.B) {
			benchPublish(b, []string{"--endpoint", "mqtt://" + addr, "-V", "3.1.1"}, qos)
		})
		b.Run(fmt.Sprintf("paho/qos%d", qos), func(b *testing.B) {
			benchPaho(b, addr, qos)
		})
	}
}

// benchPaho publishes with paho.Client: Publish blocks until the PUBACK, so
// a window of 1000 needs 1000 goroutines.
func benchPaho(b *testing.B, addr string, qos byte) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn), ClientID: NewClientID("paho-")})
	ctx := context.Background()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 60, CleanStart: true}); err != nil {
		b.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 1000)
	for i := 0; i < b.N; i++ {
		p := &paho.Publish{Topic: "bench/topic", Payload: benchPayload, QoS: qos}
		if qos == 0 {
			if _, err := c.Publish(ctx, p); err != nil {
				b.Fatal(err)
			}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Publish(ctx, p); err != nil {
				b.Error(err)
			}
			<-sem
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
