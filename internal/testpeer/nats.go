package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSConfig is what StartNATS writes into the server's configuration.
type NATSConfig struct {
	// Port of the MQTT listener on 127.0.0.1; 0 picks a free one.
	Port int
	// AckWait is how long the MQTT gateway waits for a PUBACK before it
	// sends a QoS 1 message again, also after a restart (default 30 s).
	AckWait time.Duration
	// Extra is appended to the configuration verbatim.
	Extra string
}

// NATS is a nats-server run by a test with its MQTT gateway on: a real
// broker that speaks MQTT 3.1.1 only (it answers an MQTT 5 CONNECT with
// return code 1, unacceptable protocol version). MQTT in NATS needs
// JetStream, whose store is in the test's temp folder, so persistent
// sessions survive Restart (and Kill). The log has debug and protocol
// trace lines: "<<- [CONNECT clientID=… ]" for each accepted connection.
type NATS struct {
	t    testing.TB
	path string
	dir  string
	conf string
	log  string
	port int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	running bool
}

// StartNATS starts nats-server with its MQTT listener on 127.0.0.1 and
// waits until it accepts connections. It is killed when the test ends. It
// skips (fails under IOTCTL_REQUIRE_PEERS=1) when nats-server is not
// installed (.ci/run installs it with go install).
func StartNATS(t testing.TB, cfg NATSConfig) *NATS {
	t.Helper()
	path := Require(t, "nats-server")
	n := &NATS{t: t, path: path, dir: t.TempDir()}
	n.log = filepath.Join(n.dir, "nats.log")
	n.conf = filepath.Join(n.dir, "nats.conf")
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("nats-server on %s:\n%s", n.Addr(), n.tail())
		}
	})
	for attempt := 1; ; attempt++ {
		n.port = cfg.Port
		if n.port == 0 {
			n.port = FreePort(t)
		}
		if err := os.WriteFile(n.conf, []byte(n.config(cfg)), 0o644); err != nil {
			t.Fatal(err)
		}
		err := n.start()
		if err == nil {
			return n
		}
		if cfg.Port != 0 || attempt == 3 {
			t.Fatalf("nats-server: %v\n%s", err, n.tail())
		}
	}
}

func (n *NATS) config(cfg NATSConfig) string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("server_name: iotctl-test")
	line("listen: 127.0.0.1:-1") // NATS clients: a port of its choosing
	line("jetstream { store_dir: %q }", filepath.Join(n.dir, "jetstream"))
	ackWait := ""
	if cfg.AckWait > 0 {
		ackWait = fmt.Sprintf(", ack_wait: %q", cfg.AckWait.String())
	}
	line("mqtt { listen: \"127.0.0.1:%d\"%s }", n.port, ackWait)
	line("log_file: %q", n.log)
	line("debug: true")
	line("trace: true")
	if cfg.Extra != "" {
		line("%s", cfg.Extra)
	}
	return b.String()
}

// start runs nats-server and waits until its MQTT port accepts
// connections.
func (n *NATS) start() error {
	stderr, err := os.OpenFile(filepath.Join(n.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.path, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		stderr.Close()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited, n.running = cmd, exited, true
	n.mu.Unlock()

	deadline := time.Now().Add(mosquittoReady)
	for {
		c, err := net.DialTimeout("tcp", n.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			n.mu.Lock()
			n.running = false
			n.mu.Unlock()
			return fmt.Errorf("exited before accepting MQTT connections on %s (%v)", n.Addr(), cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.stop(os.Kill)
			return fmt.Errorf("not accepting MQTT connections on %s after %v: %v", n.Addr(), mosquittoReady, err)
		}
	}
}

// Addr is the MQTT listener, "127.0.0.1:port".
func (n *NATS) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// Port is the MQTT listener's port.
func (n *NATS) Port() int { return n.port }

// URL is "mqtt://127.0.0.1:port".
func (n *NATS) URL() string { return "mqtt://" + n.Addr() }

// Stop shuts nats-server down (SIGTERM) and waits for it to exit.
func (n *NATS) Stop() { n.stop(syscall.SIGTERM) }

// Kill kills nats-server (SIGKILL) and waits for it.
func (n *NATS) Kill() { n.stop(os.Kill) }

func (n *NATS) stop(sig os.Signal) {
	n.mu.Lock()
	cmd, exited, running := n.cmd, n.exited, n.running
	n.running = false
	n.mu.Unlock()
	if !running {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(mosquittoReady):
		_ = cmd.Process.Kill()
		<-exited
		n.t.Errorf("nats-server did not exit on %v; killed\n%s", sig, n.tail())
	}
}

// Restart stops nats-server if it runs and starts it again on the same
// port with the same configuration and JetStream store.
func (n *NATS) Restart() {
	n.t.Helper()
	n.Stop()
	if err := n.start(); err != nil {
		n.t.Fatalf("nats-server restart: %v\n%s", err, n.tail())
	}
}

// Log is nats-server's log so far.
func (n *NATS) Log() string {
	data, _ := os.ReadFile(n.log)
	return string(data)
}

// MQTTLog is the log without JetStream's own traffic (the MQTT gateway
// keeps its sessions and messages in streams, which the trace shows too):
// the lines about MQTT clients, connections and errors.
func (n *NATS) MQTTLog() string {
	var b strings.Builder
	for _, l := range strings.Split(n.Log(), "\n") {
		if strings.Contains(l, "$JS.") || strings.Contains(l, "$MQTT") || strings.Contains(l, "_INBOX.") || strings.Contains(l, "] JETSTREAM - ") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Connected is the client IDs whose CONNECT the server accepted so far,
// from the trace lines "<<- [CONNECT clientID=ID …]" followed by
// "->> [CONNACK … rc=0]". The MQTT gateway accepts protocol level 4 (MQTT
// 3.1.1) only: an accepted CONNECT is an MQTT 3.1.1 one.
func (n *NATS) Connected() []string {
	var ids []string
	pending := map[string]string{} // connection prefix → client ID
	for _, l := range strings.Split(n.Log(), "\n") {
		prefix, rest, ok := strings.Cut(l, " - <<- [CONNECT clientID=")
		if ok {
			id, _, _ := strings.Cut(rest, " ")
			id = strings.TrimSuffix(id, "]")
			pending[connPrefix(prefix)] = id
			continue
		}
		prefix, rest, ok = strings.Cut(l, " - ->> [CONNACK ")
		if ok && strings.Contains(rest, "rc=0]") {
			if id, ok := pending[connPrefix(prefix)]; ok {
				ids = append(ids, id)
				delete(pending, connPrefix(prefix))
			}
		}
	}
	return ids
}

// Protocols is "3.1.1" for each connection of client id the server
// accepted so far (the MQTT gateway accepts MQTT 3.1.1 only), like
// Mosquitto.Protocols.
func (n *NATS) Protocols(id string) []string {
	var out []string
	for _, c := range n.Connected() {
		if c == id {
			out = append(out, "3.1.1")
		}
	}
	return out
}

// connPrefix is "addr - mid:N" of a trace line's beginning "[pid] date
// time [TRC] addr - mid:N - "client"".
func connPrefix(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		if strings.HasPrefix(w, "mid:") && i >= 2 {
			return f[i-2] + " " + w
		}
	}
	return s
}

// tail is the end of the MQTT lines of the log and stderr, for failure
// messages.
func (n *NATS) tail() string {
	var b strings.Builder
	for _, part := range []struct{ name, text string }{{"nats.log", n.MQTTLog()}, {"stderr.log", readFile(filepath.Join(n.dir, "stderr.log"))}} {
		lines := strings.Split(strings.TrimRight(part.text, "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", part.name, strings.Join(lines, "\n"))
	}
	return b.String()
}

func readFile(name string) string {
	data, _ := os.ReadFile(name)
	return string(data)
}
