// Package fakepeer is the accept loop of the tests' small fake servers
// (fake MQTT brokers, echo and TLS fronts): it accepts connections until
// the test ends, serves each in its own goroutine and counts them.
package fakepeer

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Server is a listener whose connections are being served.
type Server struct {
	ln    net.Listener
	conns atomic.Int32
}

// Listen serves on a fresh TCP port of 127.0.0.1; see Serve.
func Listen(t testing.TB, serve func(n int, c net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, ln, serve)
}

// Serve accepts connections on ln until the test ends and hands each,
// numbered from 0, to serve in its own goroutine; the connection is closed
// when serve returns. At the end of the test ln is closed and Serve waits
// for every serve to return.
func Serve(t testing.TB, ln net.Listener, serve func(n int, c net.Conn)) *Server {
	s := &Server{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.conns.Add(1)) - 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(n, c)
			}()
		}
	}()
	return s
}

// ServeOne listens on a fresh TCP port of 127.0.0.1, accepts one
// connection and hands it to serve; the connection is closed when serve
// returns. At the end of the test the listener is closed and ServeOne
// waits for serve to return.
func ServeOne(t testing.TB, serve func(c net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		defer c.Close()
		serve(c)
	}()
	return s
}

// Addr is the address the server listens on, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Conns is how many connections it has accepted.
func (s *Server) Conns() int32 { return s.conns.Load() }

// Packet is an MQTT packet as bytes: the fixed header byte b0, the
// Remaining Length of body and body; it builds the packets a well-behaved
// encoder refuses to.
func Packet(b0 byte, body []byte) []byte {
	out := []byte{b0}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}
