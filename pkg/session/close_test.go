package session

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpki"
)

// stuckBroker answers CONNACK, then never reads again: once the socket
// buffers are full, every write to it blocks. With tlsCfg, over TLS.
func stuckBroker(t *testing.T, tlsCfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release); ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if tlsCfg != nil {
			c = tls.Server(c, tlsCfg)
		}
		r := bufio.NewReader(c)
		if _, err := packets.ReadPacket(r); err != nil {
			return
		}
		if _, err := packets.NewControlPacket(packets.CONNACK).WriteTo(c); err != nil {
			return
		}
		<-release
	}()
	return ln.Addr().String()
}

// fillWrites publishes QoS 0 messages until the writer is blocked: a
// Publish that cannot queue within 200ms means the queue is full behind a
// write that does not return.
func fillWrites(t *testing.T, s *Session) {
	t.Helper()
	payload := make([]byte, 256<<10)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := s.Publish(ctx, &Message{Topic: "stuck", Payload: payload}, nil)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	t.Fatal("the writes never blocked")
}

// Close ends a session whose broker stopped reading in bounded time: the
// DISCONNECT cannot be written, closing the connection unblocks the writer
// (over TLS too, where tls.Conn.Close would wait 5 s to send close_notify).
func TestCloseWhenTheBrokerStopsReading(t *testing.T) {
	ca := testpki.NewCA(t, "close-test")
	leaf := ca.Server(t, "127.0.0.1")
	caFile := testpki.Write(t, t.TempDir(), "ca.pem", ca.PEM)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
		args []string
	}{
		{"tcp", nil, nil},
		{"tls", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}, []string{"--ca-file", caFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := stuckBroker(t, tc.tls)
			scheme := "mqtt://"
			if tc.tls != nil {
				scheme = "mqtts://"
			}
			st := testenv.Settings(t, append([]string{"--endpoint", scheme + addr}, tc.args...)...)
			s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
			if err != nil {
				t.Fatal(err)
			}
			fillWrites(t, s)
			start := time.Now()
			err = s.Close(context.Background(), 0)
			took := time.Since(start)
			t.Logf("Close took %s: %v", took, err)
			if err != nil {
				t.Errorf("Close: %v", err)
			}
			if took > 2500*time.Millisecond {
				t.Errorf("Close took %s, want about %s", took, disconnectTimeout)
			}
			select {
			case <-s.Done():
			default:
				t.Error("the session is not done after Close")
			}
		})
	}
}

// A deadline shorter than disconnectTimeout leaves time for the goroutines.
func TestCloseWithinTheContext(t *testing.T) {
	addr := stuckBroker(t, nil)
	st := testenv.Settings(t, "--endpoint", addr)
	s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if err != nil {
		t.Fatal(err)
	}
	fillWrites(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx, 0); err != nil {
		t.Errorf("Close: %v (after %s)", err, time.Since(start))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s with a 400ms context", took)
	}
}
