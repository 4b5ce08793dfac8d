package testpeer

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMosquitto starts mosquitto with persistence saved only at a clean
// shutdown, and checks Stop, Restart and Kill by what survives them.
func TestMosquitto(t *testing.T) {
	m := StartMosquitto(t, MosquittoConfig{Persistence: true, AutosaveInterval: -1, MaxInflightMessages: 100, MaxQueuedMessages: -1})
	if !strings.HasPrefix(m.Addr(), "127.0.0.1:") || m.Addr() != "127.0.0.1:"+strconv.Itoa(m.Port()) {
		t.Fatalf("Addr %q, Port %d", m.Addr(), m.Port())
	}
	conn := []string{"-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port())}
	pub := func(msg string) {
		t.Helper()
		run(t, "mosquitto_pub", append(conn, "-t", "harness/retained", "-m", msg, "-r", "-q", "1")...)
	}
	retained := func() string {
		t.Helper()
		return strings.TrimSpace(run(t, "mosquitto_sub", append(conn, "-t", "harness/retained", "-C", "1", "-W", "30")...))
	}

	pub("kept")
	m.Stop() // saves
	if c, err := net.Dial("tcp", m.Addr()); err == nil {
		c.Close()
		t.Fatal("mosquitto still accepts connections after Stop")
	}
	m.Restart()
	if got := retained(); got != "kept" {
		t.Fatalf("after Stop and Restart: retained %q, want kept", got)
	}

	pub("lost")
	m.Kill() // saves nothing
	m.Restart()
	if got := retained(); got != "kept" {
		t.Fatalf("after Kill and Restart: retained %q, want kept (the update was never saved)", got)
	}
	if !strings.Contains(m.Log(), "running") {
		t.Errorf("mosquitto log lacks its start line:\n%s", m.Log())
	}
}

// TestMosquittoExtra checks that Extra reaches the configuration: a second
// listener on another port.
func TestMosquittoExtra(t *testing.T) {
	port := FreePort(t)
	m := StartMosquitto(t, MosquittoConfig{Extra: "listener " + strconv.Itoa(port) + " 127.0.0.1"})
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("extra listener: %v\n%s", err, m.Log())
	}
	c.Close()
}

// TestMosquittoProtocols reads each connection's MQTT version from the log.
func TestMosquittoProtocols(t *testing.T) {
	m := StartMosquitto(t, MosquittoConfig{})
	for _, v := range []string{"mqttv311", "mqttv5", "mqttv311"} {
		run(t, "mosquitto_pub", "-V", v, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port()), "-i", "versions", "-t", "harness/v", "-m", "x")
	}
	run(t, "mosquitto_pub", "-V", "mqttv31", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port()), "-i", "versions-31", "-t", "harness/v", "-m", "x")
	if got := strings.Join(m.Protocols("versions"), " "); got != "3.1.1 5 3.1.1" {
		t.Errorf("Protocols(versions) = %q, want 3.1.1 5 3.1.1\n%s", got, m.Log())
	}
	if got := strings.Join(m.Protocols("versions-31"), " "); got != "3.1" {
		t.Errorf("Protocols(versions-31) = %q, want 3.1", got)
	}
}

func run(t *testing.T, program string, args ...string) string {
	t.Helper()
	path := Require(t, program)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", program, args, err, out)
	}
	return string(out)
}
