package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoConfig is what StartMosquitto writes into mosquitto.conf.
// Zero values leave mosquitto's defaults.
type MosquittoConfig struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// Persistence saves sessions and messages in the test's temp folder: on
	// AutosaveInterval and on Stop, not on Kill.
	Persistence bool
	// AutosaveInterval, in whole seconds; negative writes 0, which saves
	// only at a clean shutdown.
	AutosaveInterval time.Duration
	// MaxInflightMessages is also the Receive Maximum mosquitto advertises
	// (default 20).
	MaxInflightMessages int
	// MaxQueuedMessages per client (default 1000); negative writes 0, which
	// removes the limit.
	MaxQueuedMessages int
	// Extra is appended to the configuration verbatim.
	Extra string
}

// Mosquitto is a mosquitto broker run by a test.
type Mosquitto struct {
	t    testing.TB
	path string
	dir  string
	conf string
	log  string // mosquitto's own log (log_dest file)
	port int

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	running bool
}

// mosquittoReady bounds the wait for the port to accept connections: a
// loaded CI machine under -race can be slow to start a process.
const mosquittoReady = 30 * time.Second

// StartMosquitto starts /usr/sbin/mosquitto with cfg on 127.0.0.1 and waits
// until it accepts connections. It is killed when the test ends. It skips
// (fails under IOTCTL_REQUIRE_PEERS=1) when mosquitto is not installed.
func StartMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	path := Require(t, "mosquitto")
	m := &Mosquitto{t: t, path: path, dir: t.TempDir()}
	m.log = filepath.Join(m.dir, "mosquitto.log")
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	t.Cleanup(m.Kill)

	// A free port can be taken by someone else before mosquitto binds it:
	// when we picked it, pick again.
	for attempt := 1; ; attempt++ {
		m.port = cfg.Port
		if m.port == 0 {
			m.port = FreePort(t)
		}
		if err := os.WriteFile(m.conf, []byte(m.config(cfg)), 0o644); err != nil {
			t.Fatal(err)
		}
		err := m.start()
		if err == nil {
			return m
		}
		if cfg.Port != 0 || attempt == 3 {
			t.Fatalf("mosquitto: %v\n%s", err, m.tail())
		}
	}
}

func (m *Mosquitto) config(cfg MosquittoConfig) string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("listener %d 127.0.0.1", m.port)
	line("allow_anonymous true")
	if os.Geteuid() == 0 {
		// Started as root it would switch to user mosquitto, who cannot
		// read the test's temp folder.
		line("user root")
	}
	line("log_dest file %s", m.log)
	line("log_type error\nlog_type warning\nlog_type notice\nlog_type information")
	line("connection_messages true")
	if cfg.Persistence {
		line("persistence true")
		line("persistence_location %s%c", filepath.Join(m.dir, "data"), filepath.Separator)
		if err := os.MkdirAll(filepath.Join(m.dir, "data"), 0o700); err != nil {
			m.t.Fatal(err)
		}
	}
	if cfg.AutosaveInterval != 0 {
		line("autosave_interval %d", max(0, int(cfg.AutosaveInterval/time.Second)))
	}
	if cfg.MaxInflightMessages != 0 {
		line("max_inflight_messages %d", cfg.MaxInflightMessages)
	}
	if cfg.MaxQueuedMessages != 0 {
		line("max_queued_messages %d", max(0, cfg.MaxQueuedMessages))
	}
	if cfg.Extra != "" {
		line("%s", cfg.Extra)
	}
	return b.String()
}

// start runs mosquitto and waits until its port accepts connections.
func (m *Mosquitto) start() error {
	stderr, err := os.OpenFile(filepath.Join(m.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(m.path, "-c", m.conf)
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
	m.mu.Lock()
	m.cmd, m.exited, m.running = cmd, exited, true
	m.mu.Unlock()

	deadline := time.Now().Add(mosquittoReady)
	for {
		c, err := net.DialTimeout("tcp", m.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			m.mu.Lock()
			m.running = false
			m.mu.Unlock()
			return fmt.Errorf("exited before accepting connections on %s (%v)", m.Addr(), cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop(os.Kill)
			return fmt.Errorf("not accepting connections on %s after %v: %v", m.Addr(), mosquittoReady, err)
		}
	}
}

// Addr is "127.0.0.1:port".
func (m *Mosquitto) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// Port is the listener's port.
func (m *Mosquitto) Port() int { return m.port }

// URL is "mqtt://127.0.0.1:port".
func (m *Mosquitto) URL() string { return "mqtt://" + m.Addr() }

// Stop shuts mosquitto down cleanly (SIGTERM: persistence is saved) and
// waits for it to exit.
func (m *Mosquitto) Stop() { m.stop(syscall.SIGTERM) }

// Kill kills mosquitto (SIGKILL: nothing is saved) and waits for it.
func (m *Mosquitto) Kill() { m.stop(os.Kill) }

func (m *Mosquitto) stop(sig os.Signal) {
	m.mu.Lock()
	cmd, exited, running := m.cmd, m.exited, m.running
	m.running = false
	m.mu.Unlock()
	if !running {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(mosquittoReady):
		_ = cmd.Process.Kill()
		<-exited
		m.t.Errorf("mosquitto did not exit on %v; killed\n%s", sig, m.tail())
	}
}

// Restart stops mosquitto if it runs and starts it again on the same port
// with the same configuration.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	if err := m.start(); err != nil {
		m.t.Fatalf("mosquitto restart: %v\n%s", err, m.tail())
	}
}

// Log is mosquitto's log so far.
func (m *Mosquitto) Log() string {
	data, _ := os.ReadFile(m.log)
	return string(data)
}

// tail is the end of mosquitto's log and stderr, for failure messages.
func (m *Mosquitto) tail() string {
	var b strings.Builder
	for _, name := range []string{m.log, filepath.Join(m.dir, "stderr.log")} {
		data, _ := os.ReadFile(name)
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", filepath.Base(name), strings.Join(lines, "\n"))
	}
	return b.String()
}

// mosquittoConnected matches the log line of an accepted CONNECT:
// "New client connected from ADDR as ID (pN, cN, kN…)."
var mosquittoConnected = regexp.MustCompile(`New client connected from \S+ as (.+) \(p(\d),`)

// Protocols is the MQTT version of each connection the client id made so
// far, in order, from the log's connection lines: "3.1" (p1), "3.1.1" (p2)
// or "5" (p5).
func (m *Mosquitto) Protocols(id string) []string {
	var out []string
	for _, l := range strings.Split(m.Log(), "\n") {
		s := mosquittoConnected.FindStringSubmatch(l)
		if s == nil || s[1] != id {
			continue
		}
		out = append(out, map[string]string{"1": "3.1", "2": "3.1.1", "5": "5"}[s[2]])
	}
	return out
}
