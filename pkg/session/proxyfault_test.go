package session

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/fakepeer"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/errs"
	"go.uber.org/goleak"
)

// A proxy that misbehaves (a SOCKS5 server with a bad version, a truncated
// reply, a refusal, a hang; an HTTP proxy answering garbage, without end,
// or not at all) costs one Connect error line (exit 3) within the connect
// timeout, its password never shown, and leaves no goroutine behind.
func TestMisbehavingProxies(t *testing.T) {
	noProxyEnv(t)
	// drain reads until the client hangs up.
	drain := func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }
	// greet reads the SOCKS5 greeting (version, method count, methods).
	greet := func(c net.Conn) bool {
		b := make([]byte, 2)
		if _, err := io.ReadFull(c, b); err != nil {
			return false
		}
		_, err := io.ReadFull(c, make([]byte, b[1]))
		return err == nil
	}
	// request reads a SOCKS5 CONNECT request for an IPv4 address.
	request := func(c net.Conn) bool {
		_, err := io.ReadFull(c, make([]byte, 10))
		return err == nil
	}
	socksReply := func(c net.Conn, b ...byte) {
		if greet(c) {
			_, _ = c.Write([]byte{5, 0})
			if request(c) {
				_, _ = c.Write(b)
			}
		}
		drain(c)
	}
	for _, tc := range []struct {
		name   string
		scheme string
		serve  func(c net.Conn)
		want   string // in the error
	}{
		{"socks bad version", "socks5", func(c net.Conn) {
			if greet(c) {
				_, _ = c.Write([]byte{4, 0})
			}
			drain(c)
		}, "SOCKS5 proxy?"},
		{"socks truncated method reply", "socks5", func(c net.Conn) {
			if greet(c) {
				_, _ = c.Write([]byte{5})
			}
		}, "proxy"},
		{"socks truncated connect reply", "socks5", func(c net.Conn) {
			if greet(c) {
				_, _ = c.Write([]byte{5, 0})
				if request(c) {
					_, _ = c.Write([]byte{5, 0, 0})
				}
			}
		}, "proxy"},
		{"socks no acceptable method", "socks5", func(c net.Conn) {
			if greet(c) {
				_, _ = c.Write([]byte{5, 0xff})
			}
			drain(c)
		}, "authentication methods"},
		{"socks password refused", "socks5", func(c net.Conn) {
			if greet(c) {
				_, _ = c.Write([]byte{5, 2})
				b := make([]byte, 512)
				_, _ = c.Read(b)
				_, _ = c.Write([]byte{1, 1})
			}
			drain(c)
		}, "refused the user and password"},
		{"socks connect refused", "socks5", func(c net.Conn) { socksReply(c, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0) }, "could not connect"},
		{"socks unknown address type", "socks5", func(c net.Conn) { socksReply(c, 5, 0, 0, 9, 0, 0, 0, 0, 0, 0) }, "proxy"},
		{"socks hangs after greeting", "socks5", func(c net.Conn) {
			if greet(c) {
				_, _ = c.Write([]byte{5, 0})
			}
			drain(c)
		}, "connect timeout"},
		{"socks hangs", "socks5h", drain, "connect timeout"},
		{"socks answers HTTP", "socks5", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			drain(c)
		}, "proxy"},
		{"http garbage", "http", func(c net.Conn) {
			_, _ = c.Write([]byte("\x00\x01\x1b[2J garbage\r\n\r\n"))
			drain(c)
		}, "HTTP proxy?"},
		{"http hangs", "http", drain, "no reply to CONNECT 192.0.2.1:1883 within the connect timeout"},
		{"http closes", "http", func(c net.Conn) {}, "proxy"},
		{"https hangs", "https", drain, "no TLS handshake within the connect timeout"},
		{"https answers plain HTTP", "https", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			drain(c)
		}, "a TLS (https://) proxy?"},
		{"http endless header", "http", func(c net.Conn) {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\n"))
			line := []byte("X-Junk: " + strings.Repeat("j", 1000) + "\r\n")
			for {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}, "reply to CONNECT 192.0.2.1:1883 is longer than 64 KB"},
		{"http endless status line", "http", func(c net.Conn) {
			junk := []byte(strings.Repeat("HTTP", 1000))
			for {
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}, "reply to CONNECT 192.0.2.1:1883 is longer than 64 KB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakepeer.Listen(t, func(_ int, c net.Conn) { tc.serve(c) })
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			st := testenv.Settings(t, "--endpoint", "mqtt://192.0.2.1:1883", "--proxy", tc.scheme+"://u:pw-fault@"+srv.Addr(), "--connect-timeout", "2s")
			start := time.Now()
			s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
			if err == nil {
				s.Close(context.Background(), 0)
				t.Fatal("connected")
			}
			msg := err.Error()
			t.Log(msg)
			if errs.KindOf(err) != errs.Connect || strings.ContainsAny(msg, "\n\r\x1b\x00") || strings.Contains(msg, "pw-fault") || !strings.Contains(msg, tc.want) {
				t.Errorf("got %q (kind %v), want one Connect line with %q and no password", msg, errs.KindOf(err), tc.want)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %s with --connect-timeout 2s", d)
			}
		})
	}
}

// A websocket endpoint that answers the upgrade with headers without end
// is cut off at 1 MB, not read into memory until the connect timeout.
func TestWebsocketEndlessUpgradeReply(t *testing.T) {
	noProxyEnv(t)
	srv := fakepeer.Listen(t, func(_ int, c net.Conn) {
		if _, err := c.Read(make([]byte, 4096)); err != nil {
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n"))
		line := []byte("X-Junk: " + strings.Repeat("j", 4000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	st := testenv.Settings(t, "--endpoint", "ws://"+srv.Addr()+"/mqtt", "--connect-timeout", "60s")
	_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "longer than 1 MB") {
		t.Fatalf("got %v (kind %v), want a Connect error about a reply longer than 1 MB", err, errs.KindOf(err))
	}
	t.Log(err)
}
