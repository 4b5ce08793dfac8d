package reliability

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/tests/internal/clitest"
	"github.com/mochi-mqtt/server/v2/packets"
)

// gateHook records each PUBLISH it lets through (it is acknowledged right
// after), and once closed, holds every PUBLISH unacknowledged until
// released.
type gateHook struct {
	broker.HookBase
	got     *lineSet
	mu      sync.Mutex
	closed  bool
	release chan struct{}
	held    int
}

func (h *gateHook) ID() string           { return "rel-gate" }
func (h *gateHook) Provides(b byte) bool { return b == broker.OnPublish }
func (h *gateHook) OnPublish(_ *broker.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	closed := h.closed
	if closed {
		h.held++
	}
	h.mu.Unlock()
	if closed {
		<-h.release
		return pk, packets.ErrRejectPacket // never acknowledged
	}
	h.got.add(pk.Payload)
	return pk, nil
}

func (h *gateHook) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

var interruptedRE = regexp.MustCompile(`^iotctl: interrupted: (\d+) messages? not acknowledged`)

// TestShutdownSignals: SIGTERM or SIGINT during pub --lines at QoS 1. The
// messages in flight are either acknowledged within the grace period (exit
// 130) or reported (exit 6 with the count); never silently dropped: every
// line pub handed to the session is in the broker's record of
// acknowledged publishes or in the count pub reports. With "acks flowing"
// the broker keeps acknowledging; with "acks held" it stops at the signal,
// so the in-flight window is left unacknowledged.
func TestShutdownSignals(t *testing.T) {
	const n = 200000
	for _, tc := range []struct {
		name     string
		sig      os.Signal
		hold     bool
		wantCode int // 0: 130 or 6, both fine
	}{
		{"SIGTERM acks flowing", syscall.SIGTERM, false, 0},
		{"SIGINT acks flowing", syscall.SIGINT, false, 0},
		{"SIGTERM acks held", syscall.SIGTERM, true, 6},
		{"SIGINT acks held", syscall.SIGINT, true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &gateHook{got: newLineSet(n), release: make(chan struct{})}
			b := startBroker(t, "127.0.0.1:0", h)
			t.Cleanup(func() { close(h.release) }) // before the broker closes
			pub := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(numbered(n)), Args: []string{
				"--endpoint", b.URL("mqtt"), "pub", "-t", "rel/shutdown", "-l", "-q", "1", "-v"}})
			if !h.got.waitFor(20000, 40*time.Second, pub.Done()) {
				t.Fatalf("only %d lines arrived\n%s", h.got.distinct(), clitest.Tail(pub.Stderr.String(), 20))
			}
			if tc.hold {
				h.close()
			}
			if err := pub.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			code := pub.Wait(t, 30*time.Second)
			stderr := pub.Stderr.String()
			s := parseSummary(t, stderr)
			h.mu.Lock()
			held := h.held
			h.mu.Unlock()

			// What the broker acknowledged, among what pub sent.
			inRecord, beyond := 0, 0
			for i := 0; i < n; i++ {
				if h.got.has(i) {
					if i < s.sent {
						inRecord++
					} else {
						beyond++
					}
				}
			}
			notAcked := s.sent - inRecord
			t.Logf("%s: exit %d; pub says %+v; the broker acknowledged %d of the %d sent and held %d", tc.name, code, s, inRecord, s.sent, held)
			if s.sent >= n {
				t.Fatalf("pub sent everything before the signal: nothing was tested")
			}
			if beyond > 0 {
				t.Errorf("the broker got %d lines beyond the %d pub says it sent", beyond, s.sent)
			}
			if s.sent != s.acked+s.refused+s.unacked {
				t.Errorf("pub's counts do not add up: %+v", s)
			}
			if s.acked > inRecord {
				t.Errorf("pub counts %d acknowledged, the broker acknowledged %d", s.acked, inRecord)
			}
			if notAcked > s.unacked {
				t.Errorf("silently dropped: %d sent lines were not acknowledged by the broker, pub reports %d unacknowledged", notAcked, s.unacked)
			}
			var verdict string
			if m := regexp.MustCompile(`(?m)^iotctl: .*$`).FindAllString(stderr, -1); len(m) > 0 {
				verdict = m[len(m)-1]
			}
			switch code {
			case 130:
				if s.unacked != 0 {
					t.Errorf("exit 130 with %d unacknowledged", s.unacked)
				}
			case 6:
				m := interruptedRE.FindStringSubmatch(verdict)
				if m == nil {
					t.Errorf("exit 6, but the verdict %q does not give the count", verdict)
				} else if c, _ := strconv.Atoi(m[1]); c != s.unacked || c == 0 {
					t.Errorf("verdict counts %d unacknowledged, the summary %d", c, s.unacked)
				}
			default:
				t.Errorf("exit %d, want 130 or 6\n%s", code, clitest.Tail(stderr, 20))
			}
			if tc.wantCode != 0 && code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tc.wantCode, clitest.Tail(stderr, 10))
			}
			report(t, "sent", s.sent, "received", inRecord, "unacked_reported", s.unacked, "lost", max(0, notAcked-s.unacked), "fault", "signal", "faults", 1, "exit", code)
		})
	}
}
