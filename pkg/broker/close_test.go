package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestCloseWithStuckClients: subscribers that stopped reading (socket
// buffers full, over TCP, TLS and websocket) and clients mid-CONNECT do not
// hold Close past CloseTimeout + 1 s.
func TestCloseWithStuckClients(t *testing.T) {
	const closeTimeout = time.Second
	b, err := New(Options{Home: t.TempDir(), Listen: "127.0.0.1:0", WSListen: "127.0.0.1:0", TLSListen: "127.0.0.1:0",
		CloseTimeout: closeTimeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	var stuck []net.Conn
	for i := range 3 {
		r := dialRaw(t, b)
		r.connect(connectPacket(fmt.Sprint("stuck-tcp-", i), 5, true))
		r.subscribe(1, packets.Subscription{Filter: "flood/#", Qos: 1})
		stuck = append(stuck, r.nc)
	}
	for i := range 3 {
		ws, _, err := dialWS(t, b.URL(WS)+"/mqtt", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := newRaw(t, ws)
		r.connect(connectPacket(fmt.Sprint("stuck-ws-", i), 5, true))
		r.subscribe(1, packets.Subscription{Filter: "flood/#", Qos: 1})
		stuck = append(stuck, ws)
	}
	for i := range 3 {
		_, addr, _ := strings.Cut(b.URL(MQTTS), "://")
		nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: caPool(t, b.CAFile())})
		if err != nil {
			t.Fatal(err)
		}
		r := newRaw(t, nc)
		r.connect(connectPacket(fmt.Sprint("stuck-tls-", i), 5, true))
		r.subscribe(1, packets.Subscription{Filter: "flood/#", Qos: 1})
		stuck = append(stuck, nc)
	}
	// Mid-CONNECT: half a CONNECT, or only a TCP handshake.
	half := encodePacket(connectPacket("half", 5, true))
	half = half[:len(half)/2]
	_, addr, _ := strings.Cut(b.URL(MQTT), "://")
	for i := range 10 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			_, _ = nc.Write(half)
		}
		stuck = append(stuck, nc)
	}
	defer func() {
		for _, c := range stuck {
			c.Close()
		}
	}()
	// Fill their socket buffers: 64 MB each way at most.
	payload := []byte(strings.Repeat("x", 64<<10))
	for range 1000 {
		if err := b.Publish("flood/x", payload, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitWritersBlocked(t, b, 9)
	start := time.Now()
	err = b.Close()
	d := time.Since(start)
	if err != nil {
		t.Error(err)
	}
	t.Logf("Close took %s", d)
	if d > closeTimeout+time.Second {
		t.Errorf("Close took %s, want ≤ %s", d, closeTimeout+time.Second)
	}
}

// waitWritersBlocked waits until n sessions hold queued messages their
// writers could not send.
func waitWritersBlocked(t *testing.T, b *Broker, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		k := 0
		b.server.mu.Lock()
		for _, ss := range b.server.sessions {
			ss.mu.Lock()
			if ss.queued() > 0 && len(ss.flight) > 0 {
				k++
			}
			ss.mu.Unlock()
		}
		b.server.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writers blocked", k, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
