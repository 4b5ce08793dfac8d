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

// server is a broker process a test runs (mosquitto, nats-server): started
// with a configuration file in the test's temp folder, ready when its port
// on 127.0.0.1 accepts TCP connections, stopped, killed or restarted, and
// killed when the test ends (its log's tail is logged when the test failed).
type server struct {
	t    testing.TB
	name string // the program, for messages
	path string
	dir  string
	conf string
	log  string // the server's own log file
	port int
	// logTail, when set, is the part of the log failure messages show.
	logTail func() string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	running bool
}

// serverReady bounds the wait for the port to accept connections: a
// loaded CI machine under -race can be slow to start a process.
const serverReady = 30 * time.Second

// newServer prepares a server of the installed program name (skipping the
// test, or failing it under IOTCTL_REQUIRE_PEERS=1, when it is not) with
// its configuration and log files in a new temp folder.
func newServer(t testing.TB, name, conf, log string) server {
	t.Helper()
	path := Require(t, name)
	dir := t.TempDir()
	return server{t: t, name: name, path: path, dir: dir, conf: filepath.Join(dir, conf), log: filepath.Join(dir, log)}
}

// launch writes the configuration config makes and starts the server on
// port, or on a free port (picked again when someone else took it before
// the server bound it). The server is killed when the test ends.
func (s *server) launch(port int, config func() string) {
	s.t.Helper()
	s.t.Cleanup(func() {
		s.Kill()
		if s.t.Failed() {
			s.t.Logf("%s on %s:\n%s", s.name, s.Addr(), s.tail())
		}
	})
	for attempt := 1; ; attempt++ {
		s.port = port
		if s.port == 0 {
			s.port = FreePort(s.t)
		}
		if err := os.WriteFile(s.conf, []byte(config()), 0o644); err != nil {
			s.t.Fatal(err)
		}
		err := s.start()
		if err == nil {
			return
		}
		if port != 0 || attempt == 3 {
			s.t.Fatalf("%s: %v\n%s", s.name, err, s.tail())
		}
	}
}

// start runs the server and waits until its port accepts connections.
func (s *server) start() error {
	stderr, err := os.OpenFile(filepath.Join(s.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.path, "-c", s.conf)
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
	s.mu.Lock()
	s.cmd, s.exited, s.running = cmd, exited, true
	s.mu.Unlock()

	deadline := time.Now().Add(serverReady)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			return fmt.Errorf("exited before accepting connections on %s (%v)", s.Addr(), cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(os.Kill)
			return fmt.Errorf("not accepting connections on %s after %v: %v", s.Addr(), serverReady, err)
		}
	}
}

// Addr is the MQTT listener, "127.0.0.1:port".
func (s *server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the MQTT listener's port.
func (s *server) Port() int { return s.port }

// URL is "mqtt://127.0.0.1:port".
func (s *server) URL() string { return "mqtt://" + s.Addr() }

// Stop shuts the server down (SIGTERM: mosquitto saves its persistence)
// and waits for it to exit.
func (s *server) Stop() { s.stop(syscall.SIGTERM) }

// Kill kills the server (SIGKILL: nothing is saved) and waits for it.
func (s *server) Kill() { s.stop(os.Kill) }

func (s *server) stop(sig os.Signal) {
	s.mu.Lock()
	cmd, exited, running := s.cmd, s.exited, s.running
	s.running = false
	s.mu.Unlock()
	if !running {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(serverReady):
		_ = cmd.Process.Kill()
		<-exited
		s.t.Errorf("%s did not exit on %v; killed\n%s", s.name, sig, s.tail())
	}
}

// Restart stops the server if it runs and starts it again on the same port
// with the same configuration (and stored state).
func (s *server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("%s restart: %v\n%s", s.name, err, s.tail())
	}
}

// Log is the server's log so far.
func (s *server) Log() string {
	data, _ := os.ReadFile(s.log)
	return string(data)
}

// tail is the end of the server's log and stderr, for failure messages.
func (s *server) tail() string {
	log := s.Log()
	if s.logTail != nil {
		log = s.logTail()
	}
	stderr, _ := os.ReadFile(filepath.Join(s.dir, "stderr.log"))
	var b strings.Builder
	for _, part := range []struct{ name, text string }{{filepath.Base(s.log), log}, {"stderr.log", string(stderr)}} {
		lines := strings.Split(strings.TrimRight(part.text, "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", part.name, strings.Join(lines, "\n"))
	}
	return b.String()
}
