package testpeer

import (
	"fmt"
	"path/filepath"
	"strings"
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
	server
}

// StartNATS starts nats-server with its MQTT listener on 127.0.0.1 and
// waits until it accepts connections. It is killed when the test ends. It
// skips (fails under IOTCTL_REQUIRE_PEERS=1) when nats-server is not
// installed (.ci/run installs it with go install).
func StartNATS(t testing.TB, cfg NATSConfig) *NATS {
	t.Helper()
	n := &NATS{server: newServer(t, "nats-server", "nats.conf", "nats.log")}
	n.logTail = n.MQTTLog
	n.launch(cfg.Port, func() string { return n.config(cfg) })
	return n
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
