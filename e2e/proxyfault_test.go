//go:build !windows

package e2e

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/fakepeer"
)

// Proxies that misbehave end `iotctl pub` with exit 3 and one line on
// stderr within the connect timeout, and a SIGTERM while a proxy hangs
// ends it at once (130).
func TestMisbehavingProxyCLI(t *testing.T) {
	drain := func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }
	for _, tc := range []struct {
		name, scheme string
		serve        func(c net.Conn)
	}{
		{"socks bad version", "socks5", func(c net.Conn) { _, _ = c.Read(make([]byte, 16)); _, _ = c.Write([]byte{4, 0}); drain(c) }},
		{"socks hangs", "socks5h", drain},
		{"socks closes", "socks5", func(c net.Conn) {}},
		{"http garbage", "http", func(c net.Conn) { _, _ = c.Write([]byte("\x1b[2J\x00junk\r\n\r\n")); drain(c) }},
		{"http hangs", "http", drain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakepeer.Listen(t, func(_ int, c net.Conn) { tc.serve(c) })
			p := run(t, nil, 3, "pub", "-t", "a", "-m", "x", "--endpoint", "mqtt://192.0.2.1:1883",
				"--proxy", tc.scheme+"://u:pw-e2e@"+srv.Addr(), "--connect-timeout", "2s")
			e := p.stderr.String()
			if strings.Count(e, "\n") != 1 || !strings.HasPrefix(e, "iotctl: ") || strings.Contains(e, "pw-e2e") || strings.ContainsAny(e, "\x1b\x00") {
				t.Errorf("stderr %q, want one line without the password or control characters", e)
			}
		})
	}
	t.Run("SIGTERM while the proxy hangs", func(t *testing.T) {
		accepted := make(chan struct{}, 1)
		srv := fakepeer.Listen(t, func(_ int, c net.Conn) {
			accepted <- struct{}{}
			drain(c)
		})
		p := iotctl(t, nil, "pub", "-t", "a", "-m", "x", "--endpoint", "mqtt://192.0.2.1:1883",
			"--proxy", "socks5://"+srv.Addr(), "--connect-timeout", "5m")
		select {
		case <-accepted:
		case <-time.After(wait):
			t.Fatal("iotctl never reached the proxy")
		}
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		p.expect(t, 130)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("exited %s after SIGTERM (the contract is 3 s)", d)
		}
	})
}
