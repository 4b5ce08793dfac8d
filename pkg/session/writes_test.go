package session

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/pkg/broker"
)

type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (w writeCounter) Write(p []byte) (int, error) {
	w.n.Add(1)
	return w.Conn.Write(p)
}

// A lone PUBLISH is one write on the connection: one TCP send, one TLS
// record, one websocket frame. paho-style writing takes several.
func TestOnePublishOneWrite(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{TLSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0", Home: t.TempDir()})
	for _, scheme := range []string{broker.MQTT, broker.MQTTS, broker.WSS} {
		for _, unbuffered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/unbuffered=%t", scheme, unbuffered), func(t *testing.T) {
				var writes atomic.Int64
				wrapConn = func(c net.Conn) net.Conn { return writeCounter{c, &writes} }
				unbufferedWrites = unbuffered
				defer func() { wrapConn, unbufferedWrites = nil, false }()
				s := dialSession(t, Options{}, "--endpoint", b.URL(scheme), "--ca-file", b.CAFile(), "--keepalive", "0")
				m := &Message{Topic: "w/" + scheme, Payload: []byte("payload"), QoS: 1, Props: Properties{ContentType: "text/plain"}}
				before := writes.Load()
				const n = 20
				for i := 0; i < n; i++ {
					done := make(chan error, 1)
					if err := s.Publish(context.Background(), m, func(err error) { done <- err }); err != nil {
						t.Fatal(err)
					}
					if err := <-done; err != nil {
						t.Fatal(err)
					}
				}
				got := writes.Load() - before
				s.Close(context.Background(), 0) // before the globals are reset
				t.Logf("%d publishes: %d writes", n, got)
				if !unbuffered && got != n {
					t.Fatalf("%d writes for %d publishes, want one each", got, n)
				}
				if unbuffered && got <= n {
					t.Fatalf("paho-style writing took only %d writes", got)
				}
			})
		}
	}
}
