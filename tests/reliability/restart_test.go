package reliability

import (
	"bytes"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestMosquittoRestarts: pub --lines of 200,000 lines at QoS 1 into
// mosquitto (persistence on) while it is stopped (SIGTERM) and restarted
// three times; iotctl sub with a persistent session (fixed client ID,
// --clean-start=false, --session-expiry 1h) prints them raw. Nothing is
// lost, duplicates are counted, pub exits 0. (cmd/pub's
// TestNoLossMosquittoRestarts does the pub side in-process; this drives
// both binaries.)
//
// It runs under MQTT 5 and MQTT 3.1.1 (see protocols).
func TestMosquittoRestarts(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Persistence: true, MaxInflightMessages: 1000, MaxQueuedMessages: -1})
			testRestarts(t, p, m, lines(t, "RESTART_LINES", 200000), "mosquitto-sigterm-restart")
		})
	}
}

// TestNATSRestarts is TestMosquittoRestarts against nats-server's MQTT
// gateway, a broker of another make that speaks MQTT 3.1.1 only, its
// sessions kept in JetStream across the restarts; 20,000 lines. What was
// in flight at a restart comes again after the gateway's ack_wait (30 s
// by default, 3 s here).
func TestNATSRestarts(t *testing.T) {
	n := testpeer.StartNATS(t, testpeer.NATSConfig{AckWait: 3 * time.Second})
	testRestarts(t, protocols[1], n, lines(t, "NATS_RESTART_LINES", 20000), "nats-sigterm-restart")
}

// restartable is a real broker the restart case stops and starts.
type restartable interface {
	URL() string
	Restart()
	Protocols(id string) []string
}

func testRestarts(t *testing.T, proto protocol, m restartable, n int, fault string) {
	got := newLineSet(n)
	sub := clitest.Start(t, clitest.Opts{Env: env(t), Stdout: got, Args: proto.args(
		"--endpoint", m.URL(), "--client-id", "rel-restart-sub", proto.persistent,
		"sub", "-t", "rel/restart", "-q", "1", "-F", "raw")})
	sub.WaitStderr(t, "subscribed to rel/restart", 30*time.Second)

	start := time.Now()
	pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(numbered(n)), Args: proto.args(
		"--endpoint", m.URL(), "--client-id", "rel-restart-pub", "pub", "-t", "rel/restart", "-l", "-q", "1", "-v")})
	restarts := 0
	for _, at := range []int{n / 8, n / 4, 3 * n / 8} {
		if !got.waitFor(at, 40*time.Second, sub.Done()) {
			t.Fatalf("restart %d: only %d of %d lines arrived\npub: %s\nsub: %s", restarts+1, got.distinct(), n, clitest.Tail(pub.Stderr.String(), 10), clitest.Tail(sub.Stderr.String(), 10))
		}
		m.Restart()
		restarts++
		t.Logf("restart %d (SIGTERM, start) after %d lines; pub still running: %t", restarts, got.distinct(), !pub.Exited())
	}
	if code := pub.Wait(t, 50*time.Second); code != 0 {
		t.Fatalf("pub exit %d, want 0\n%s", code, clitest.Tail(pub.Stderr.String(), 20))
	}
	if !got.waitFor(n, 40*time.Second, sub.Done()) {
		reportLoss(t, got, n)
		t.Fatalf("lost lines: %d of %d arrived; missing e.g. %v\nsub: %s", got.distinct(), n, got.missing(10), clitest.Tail(sub.Stderr.String(), 20))
	}
	sub.Signal(syscall.SIGINT)
	if code := sub.Wait(t, 20*time.Second); code != 130 {
		t.Errorf("sub exit %d after SIGINT, want 130\n%s", code, clitest.Tail(sub.Stderr.String(), 10))
	}
	s := parseSummary(t, pub.Stderr.String())
	distinct, dups, bad := got.counts()
	if bad > 0 {
		t.Errorf("%d lines on sub's stdout were not lines pub sent", bad)
	}
	t.Logf("pub: %+v; sub reconnects: %d", s, count(sub.Stderr.String(), "reconnected"))
	proto.check(t, m, "rel-restart-sub", "rel-restart-pub")
	report(t, "mqtt", proto.version, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", restarts, "fault", fault, "seconds", int(time.Since(start).Seconds()))
}

// crashRecord records every PUBLISH before the broker acknowledges it
// (mochi calls OnPublish before it sends the PUBACK), in memory that
// outlives the brokers: "durable" as of the PUBACK.
type crashRecord struct {
	broker.HookBase
	got      *lineSet
	sessions atomic.Int64 // connections established
}

func (c *crashRecord) ID() string { return "rel-crash-record" }
func (c *crashRecord) Provides(b byte) bool {
	return b == broker.OnPublish || b == broker.OnSessionEstablished
}
func (c *crashRecord) OnPublish(cl *broker.Client, pk packets.Packet) (packets.Packet, error) {
	c.got.add(pk.Payload)
	return pk, nil
}
func (c *crashRecord) OnSessionEstablished(cl *broker.Client, pk packets.Packet) {
	c.sessions.Add(1)
}

// TestBrokerCrashes: the embedded broker is closed abruptly (its sessions
// gone, like a SIGKILL) three times during pub --lines at QoS 1, a new one
// starting on the same port each time: pub reconnects, finds Session
// Present 0, publishes every unacknowledged line again, and exits 0; every
// line is in the record taken before each PUBACK.
func TestBrokerCrashes(t *testing.T) {
	n := lines(t, "CRASH_LINES", 200000)
	rec := &crashRecord{got: newLineSet(n)}
	b := startBroker(t, "127.0.0.1:0", rec)
	addr := hostPort(b.URL("mqtt"))
	start := time.Now()
	pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(numbered(n)), Args: []string{
		"--endpoint", "mqtt://" + addr, "pub", "-t", "rel/crash", "-l", "-q", "1", "-v"}})
	crashes := 0
	for _, at := range []int{n / 5, 2 * n / 5, 3 * n / 5} {
		if !rec.got.waitFor(at, 40*time.Second, pub.Done()) {
			t.Fatalf("crash %d: only %d lines recorded; pub: %s", crashes+1, rec.got.distinct(), clitest.Tail(pub.Stderr.String(), 10))
		}
		b.Close()
		crashes++
		b = restartBroker(t, addr, rec)
		t.Logf("crash %d after %d recorded lines", crashes, rec.got.distinct())
	}
	if code := pub.Wait(t, 50*time.Second); code != 0 {
		t.Fatalf("pub exit %d, want 0\n%s", code, clitest.Tail(pub.Stderr.String(), 20))
	}
	distinct, dups, _ := rec.got.counts()
	if distinct != n {
		reportLoss(t, rec.got, n)
		t.Fatalf("lost lines: %d of %d recorded; missing e.g. %v\n%s", distinct, n, rec.got.missing(10), clitest.Tail(pub.Stderr.String(), 20))
	}
	s := parseSummary(t, pub.Stderr.String())
	if s.sent != n || s.acked != n || s.unacked != 0 {
		t.Errorf("pub summary %+v, want %d sent and acknowledged", s, n)
	}
	t.Logf("pub: %+v; lost-session republishes logged: %d", s, count(pub.Stderr.String(), "the broker lost the session"))
	report(t, "sent", n, "received", distinct, "lost", n-distinct, "duplicates", dups, "faults", crashes, "fault", "embedded-broker-crash", "connections", rec.sessions.Load(), "seconds", int(time.Since(start).Seconds()))
}
