package relay

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echo runs a line echo server.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, d time.Duration) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err == nil && line != "ping\n" {
		t.Fatalf("got %q", line)
	}
	return err
}

func TestRelay(t *testing.T) {
	r := Start(t, echo(t))
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if err := roundTrip(t, c, br, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	r.Freeze()
	if err := roundTrip(t, c, br, 200*time.Millisecond); err == nil {
		t.Fatal("frozen relay forwarded")
	}
	r.Thaw()
	// The frozen ping arrives after the thaw.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("after thaw: %q %v", line, err)
	}

	r.CutAll()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("cut connection still reads")
	}
	if r.Cuts() != 1 {
		t.Fatalf("cuts %d", r.Cuts())
	}
}

func TestCutEvery(t *testing.T) {
	r := Start(t, echo(t))
	r.CutEvery(10*time.Millisecond, 30*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for r.Cuts() < 3 && time.Now().Before(deadline) {
		c, err := net.Dial("tcp", r.Addr())
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		for roundTrip(t, c, br, time.Second) == nil {
		}
		c.Close()
	}
	if r.Cuts() < 3 {
		t.Fatalf("cuts %d", r.Cuts())
	}
	r.Stop()
}
