package session

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
)

// mosquittoTLSWS is mosquitto with a plain, a TLS and a websocket listener.
type mosquittoTLSWS struct {
	*testpeer.Mosquitto
	tlsPort, wsPort int
	caFile          string
}

func startMosquittoTLSWS(t *testing.T) *mosquittoTLSWS {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "paced CA")
	caFile := testpki.Write(t, dir, "ca.crt", ca.PEM)
	cert, key := ca.Server(t, "127.0.0.1").Files(t, dir, "server")
	tlsPort, wsPort := testpeer.FreePort(t), testpeer.FreePort(t)
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: fmt.Sprintf(
		"listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nlistener %d 127.0.0.1\nprotocol websockets",
		tlsPort, caFile, cert, key, wsPort)})
	return &mosquittoTLSWS{Mosquitto: m, tlsPort: tlsPort, wsPort: wsPort, caFile: caFile}
}

// A paced subscriber over TLS and websockets gets every QoS 0 message of a
// fast publisher. Pacing above the TLS or websocket layer, where a read
// returns one record or frame, waited a millisecond for each packet:
// mosquitto's queue grew until it dropped messages, and n messages took at
// least n milliseconds (30 s here, beyond the deadline).
func TestPacedTLSAndWebsocketsLoseNothing(t *testing.T) {
	m := startMosquittoTLSWS(t)
	const n = 30000
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"mqtts", []string{"--endpoint", "mqtts://127.0.0.1:" + strconv.Itoa(m.tlsPort), "--ca-file", m.caFile}},
		{"ws", []string{"--endpoint", "ws://127.0.0.1:" + strconv.Itoa(m.wsPort) + "/mqtt"}},
		{"mqtt", []string{"--endpoint", m.URL()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "paced/" + tc.name
			var got atomic.Int64
			all := make(chan struct{})
			sub := dialSession(t, Options{Coalesce: true, Handler: func(*Message) error {
				if got.Add(1) == n {
					close(all)
				}
				return nil
			}}, tc.args...)
			if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: topic}}); err != nil {
				t.Fatal(err)
			}
			pub := dialSession(t, Options{Coalesce: true}, tc.args...)
			for i := 0; i < n; i++ {
				if err := pub.Publish(context.Background(), &Message{Topic: topic, Payload: []byte(strconv.Itoa(i))}, nil); err != nil {
					t.Fatal(err)
				}
			}
			pub.Close(context.Background(), 0)
			select {
			case <-all:
			case <-time.After(20 * time.Second):
				t.Fatalf("received %d of %d", got.Load(), n)
			}
		})
	}
}
