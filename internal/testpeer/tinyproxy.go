package testpeer

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TinyproxyConfig is what a test's tinyproxy allows.
type TinyproxyConfig struct {
	// User and Pass turn on Basic auth when User is set.
	User, Pass string
	// ConnectPorts are the ports CONNECT may reach (tinyproxy's default is
	// 443 and 563 only).
	ConnectPorts []int
}

// Tinyproxy is a real tinyproxy in the foreground on 127.0.0.1, killed when
// the test ends.
type Tinyproxy struct {
	addr string
	mu   sync.Mutex
	log  strings.Builder
}

// Addr is the proxy's host:port.
func (p *Tinyproxy) Addr() string { return p.addr }

// Log is what tinyproxy has printed so far.
func (p *Tinyproxy) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// StartTinyproxy starts tinyproxy (skipping, or failing under
// IOTCTL_REQUIRE_PEERS=1, when it is not installed) and returns once it
// accepts connections. Its log is printed when the test fails.
func StartTinyproxy(t testing.TB, cfg TinyproxyConfig) *Tinyproxy {
	t.Helper()
	bin := Require(t, "tinyproxy")
	// FreePort can race with another process taking the port; tinyproxy
	// then exits before it is ready, and another port is tried.
	var lastLog string
	for attempt := 0; attempt < 5; attempt++ {
		p, ok := startTinyproxy(t, bin, cfg, FreePort(t))
		if ok {
			return p
		}
		lastLog = p.Log()
	}
	t.Fatalf("tinyproxy did not start:\n%s", lastLog)
	return nil
}

func startTinyproxy(t testing.TB, bin string, cfg TinyproxyConfig, port int) (*Tinyproxy, bool) {
	t.Helper()
	var conf strings.Builder
	fmt.Fprintf(&conf, "Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nLogLevel Info\nAllow 127.0.0.1\n", port)
	for _, cp := range cfg.ConnectPorts {
		fmt.Fprintf(&conf, "ConnectPort %d\n", cp)
	}
	if cfg.User != "" {
		fmt.Fprintf(&conf, "BasicAuth %s %s\n", cfg.User, cfg.Pass)
	}
	// As root tinyproxy keeps the current user when no User line is given
	// (it only warns), so the config needs no User/Group.
	path := filepath.Join(t.TempDir(), "tinyproxy.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	p := &Tinyproxy{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	cmd := exec.Command(bin, "-d", "-c", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tinyproxy: %v", err)
	}
	ready := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if !signalled && strings.Contains(line, "Accepting connections") {
				signalled = true
				ready <- true
			}
		}
		io.Copy(io.Discard, out)
		if !signalled {
			ready <- false
		}
	}()
	ok := <-ready
	stop := func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	}
	if !ok {
		stop()
		return p, false
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("tinyproxy on %s:\n%s", p.addr, p.Log())
		}
	})
	return p, true
}
