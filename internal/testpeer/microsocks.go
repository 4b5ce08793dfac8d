package testpeer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// MicrosocksConfig is what a test's microsocks asks of its clients.
type MicrosocksConfig struct {
	// User and Pass turn on user/password auth (RFC 1929) when User is set.
	User, Pass string
}

// Microsocks is a real microsocks SOCKS5 server on 127.0.0.1, killed when
// the test ends.
type Microsocks struct {
	addr string
	mu   sync.Mutex
	log  strings.Builder
	cond *sync.Cond
}

// Addr is the proxy's host:port.
func (p *Microsocks) Addr() string { return p.addr }

// Log is what microsocks has printed so far: one line per tunnel,
// "client[N] 127.0.0.1: connected to HOST:PORT", HOST as the client sent
// it (a name for socks5h://, an address for socks5://).
func (p *Microsocks) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Wait waits until cond holds for the log, up to timeout, and reports
// whether it does. microsocks may print a tunnel's line after the client
// is already using the tunnel.
func (p *Microsocks) Wait(cond func(log string) bool, timeout time.Duration) bool {
	expired := false
	timer := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		expired = true
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !cond(p.log.String()) {
		if expired {
			return false
		}
		p.cond.Wait()
	}
	return true
}

// WaitTunnels waits until microsocks has opened n tunnels in all, up to
// timeout, and reports whether it has.
func (p *Microsocks) WaitTunnels(n int, timeout time.Duration) bool {
	return p.Wait(func(log string) bool { return strings.Count(log, ": connected to ") >= n }, timeout)
}

// Tunnels counts the tunnels microsocks opened so far.
func (p *Microsocks) Tunnels() int {
	return strings.Count(p.Log(), ": connected to ")
}

// StartMicrosocks starts microsocks (skipping, or failing under
// IOTCTL_REQUIRE_PEERS=1, when it is not installed) and returns once it
// accepts connections. Its log is printed when the test fails.
func StartMicrosocks(t testing.TB, cfg MicrosocksConfig) *Microsocks {
	t.Helper()
	bin := Require(t, "microsocks")
	// FreePort can race with another process taking the port; microsocks
	// then exits, and another port is tried.
	var lastLog string
	for attempt := 0; attempt < 5; attempt++ {
		p, ok := startMicrosocks(t, bin, cfg, FreePort(t))
		if ok {
			return p
		}
		lastLog = p.Log()
	}
	t.Fatalf("microsocks did not start:\n%s", lastLog)
	return nil
}

func startMicrosocks(t testing.TB, bin string, cfg MicrosocksConfig, port int) (*Microsocks, bool) {
	t.Helper()
	p := &Microsocks{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	p.cond = sync.NewCond(&p.mu)
	args := []string{"-i", "127.0.0.1", "-p", fmt.Sprint(port)}
	if cfg.User != "" {
		args = append(args, "-u", cfg.User, "-P", cfg.Pass)
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start microsocks: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	// microsocks prints nothing when it is ready: it is once it accepts a
	// connection, or it failed once it exited (the port was taken).
	ready := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			ready = true
			break
		}
		select {
		case <-exited:
			return p, false
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !ready {
		stop()
		return p, false
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("microsocks on %s:\n%s", p.addr, p.Log())
		}
	})
	return p, true
}
