package broker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

const stdoutChildEnv = "IOTCTL_TEST_BROKER_STDOUT_CHILD"

// TestNothingOnStdout runs a broker in a child process through good and bad
// connections and checks that nothing reached the process's stdout: mochi's
// default logger and net/http's error log both write there or to stderr.
func TestNothingOnStdout(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stdoutChildEnv+"="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr (the logger is nil): %q", stderr.String())
	}
}

// stdoutChild is the child of TestNothingOnStdout; it returns the exit code.
func stdoutChild(home string) int {
	if err := exercise(home); err != nil {
		// Not stdout: that is what the parent checks.
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func exercise(home string) error {
	b, err := New(Options{Home: home, Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0", Verbose: true})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Start(); err != nil {
		return err
	}
	addr := func(scheme string) string { _, a, _ := strings.Cut(b.URL(scheme), "://"); return a }

	// A good client with a keepalive mochi warns about.
	c, err := net.Dial("tcp", addr(MQTT))
	if err != nil {
		return err
	}
	cl := paho.NewClient(paho.ClientConfig{ClientID: "c1", Conn: packets.NewThreadSafeConn(c)})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := cl.Connect(ctx, &paho.Connect{ClientID: "c1", CleanStart: true, KeepAlive: 1}); err != nil {
		return err
	}
	if _, err := cl.Publish(ctx, &paho.Publish{Topic: "a", QoS: 1, Payload: []byte("x")}); err != nil {
		return err
	}
	_ = cl.Disconnect(&paho.Disconnect{})
	<-cl.Done()

	// Garbage instead of CONNECT, plain bytes to the TLS port, and HTTP
	// without an upgrade to the websocket port.
	for _, a := range []string{addr(MQTT), addr(MQTTS)} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			return err
		}
		fmt.Fprint(c, "GET / HTTP/1.0\r\n\r\n")
		_, _ = c.Read(make([]byte, 100))
		c.Close()
	}
	resp, err := http.Get("http://" + addr(WS) + "/mqtt")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		return fmt.Errorf("plain GET: status %d, want 400", resp.StatusCode)
	}
	return b.Close()
}
