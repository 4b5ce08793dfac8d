package testpeer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNATS: nats-server's MQTT gateway takes an MQTT 3.1.1 client, logs
// its CONNECT, and keeps a persistent session's subscription across
// Restart.
func TestNATS(t *testing.T) {
	n := StartNATS(t, NATSConfig{})
	if n.Addr() != "127.0.0.1:"+strconv.Itoa(n.Port()) || n.URL() != "mqtt://"+n.Addr() {
		t.Fatalf("Addr %q, Port %d, URL %q", n.Addr(), n.Port(), n.URL())
	}
	conn := []string{"-V", "mqttv311", "-h", "127.0.0.1", "-p", strconv.Itoa(n.Port())}
	// A persistent session subscribes, leaves; a message comes; the server
	// restarts; the session gets the message.
	run(t, "mosquitto_sub", append(conn, "-i", "nats-sub", "-c", "-q", "1", "-t", "harness/q", "-E")...)
	run(t, "mosquitto_pub", append(conn, "-i", "nats-pub", "-t", "harness/q", "-m", "kept", "-q", "1")...)
	n.Restart()
	got := strings.TrimSpace(run(t, "mosquitto_sub", append(conn, "-i", "nats-sub", "-c", "-q", "1", "-t", "harness/q", "-C", "1", "-W", "30")...))
	if got != "kept" {
		t.Fatalf("persistent session after Restart: got %q, want kept", got)
	}
	for _, id := range []string{"nats-sub", "nats-pub"} {
		if !slices.Contains(n.Connected(), id) {
			t.Errorf("Connected() = %v lacks %s\n%s", n.Connected(), id, n.MQTTLog())
		}
	}
	if got := strings.Join(n.Protocols("nats-sub"), " "); got != "3.1.1 3.1.1" {
		t.Errorf("Protocols(nats-sub) = %q, want two 3.1.1 connections", got)
	}
}

// TestNATSRefusesMQTT5: the MQTT gateway speaks MQTT 3.1.1 (protocol
// level 4) only, so a connection it accepts is a 3.1.1 one. To an MQTT 5
// CONNECT it answers the 3.1.1 CONNACK 20 02 00 01 (unacceptable protocol
// version) and closes; an MQTT 3.1 one (MQIsdp, level 3) it closes
// without an answer; a level 4 CONNECT is accepted; mosquitto_pub -V
// mqttv5 fails.
func TestNATSRefusesMQTT5(t *testing.T) {
	n := StartNATS(t, NATSConfig{})
	answer := func(connect []byte) []byte {
		t.Helper()
		c, err := net.DialTimeout("tcp", n.Addr(), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write(connect); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		k, err := io.ReadFull(c, ack)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("answer to % x: %v", connect, err)
		}
		return ack[:k] // empty: closed without a CONNACK
	}
	// CONNECT: protocol name, level, clean start, keepalive 60, (MQTT 5: no
	// properties), client ID.
	for _, tc := range []struct {
		name    string
		connect []byte
		want    []byte
	}{
		{"MQTT 5", []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 2, 'v', '5'}, []byte{0x20, 2, 0, 1}},
		{"MQTT 3.1", []byte{0x10, 16, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 2, 'v', '3'}, []byte{}},
		{"MQTT 3.1.1", []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 'v', '4'}, []byte{0x20, 2, 0, 0}},
	} {
		if got := answer(tc.connect); !bytes.Equal(got, tc.want) {
			t.Errorf("%s CONNECT: CONNACK % x, want % x", tc.name, got, tc.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, Require(t, "mosquitto_pub"), "-V", "mqttv5", "-h", "127.0.0.1", "-p", strconv.Itoa(n.Port()),
		"-i", "v5-pub", "-t", "harness/v5", "-m", "x").CombinedOutput()
	if err == nil {
		t.Fatalf("mosquitto_pub -V mqttv5 succeeded:\n%s", out)
	}
	if !strings.Contains(n.MQTTLog(), "unacceptable protocol version of 5") {
		t.Errorf("log lacks the refusal of protocol version 5:\n%s", n.MQTTLog())
	}
	if slices.Contains(n.Connected(), "v5-pub") {
		t.Errorf("Connected() = %v has the MQTT 5 client", n.Connected())
	}
}
