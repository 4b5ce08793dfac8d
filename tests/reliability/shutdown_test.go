package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/shutdown"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
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
				// Signal only once the broker holds a publish: on a starved
				// machine pub may not have sent anything since the gate
				// closed, and an empty window rightly exits 130.
				deadline := time.Now().Add(20 * time.Second)
				for {
					h.mu.Lock()
					held := h.held
					h.mu.Unlock()
					if held > 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(time.Millisecond)
				}
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

// stopContract is CLI.md's promise: every command exits within 3 s of
// SIGINT/SIGTERM, whatever its peer does.
const stopContract = 3 * time.Second

// signalStop sends sig and waits for the exit; it fails the test when the
// exit came later than stopContract after the signal, and returns the code.
func signalStop(t *testing.T, p *clitest.Proc, sig os.Signal) int {
	t.Helper()
	at := p.Elapsed()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
	code := p.Wait(t, 30*time.Second)
	took := p.Elapsed() - at
	t.Logf("exit %d %s after %s", code, took.Round(time.Millisecond), shutdown.Name(sig))
	if took >= stopContract {
		t.Errorf("exit %s after %s, want within %s\nstderr (tail): %s", took.Round(time.Millisecond), shutdown.Name(sig), stopContract, clitest.Tail(p.Stderr.String(), 20))
	}
	if strings.Contains(p.Stderr.String(), "exiting without a clean shutdown") {
		t.Errorf("the command did not stop by itself: the root's last resort ended it\n%s", clitest.Tail(p.Stderr.String(), 20))
	}
	return code
}

// verdict is the last "iotctl: …" line of stderr.
func verdict(stderr string) string {
	m := regexp.MustCompile(`(?m)^iotctl: .*$`).FindAllString(stderr, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

// bigLines is pub --lines input that fills socket buffers quickly: 400
// lines of 64 KiB, made once.
var bigLines = sync.OnceValue(func() []byte { return padded(400, 64<<10) })

// TestStopWhenThePeerIsWedged: every connecting command, started against a
// peer that stopped answering (a broker that accepts TCP and never
// answers, one that answers CONNACK and then stops reading, an HTTP proxy
// that never answers CONNECT, a TLS server that never completes the
// handshake), exits within 3 s of SIGTERM with the documented code: 130,
// or 6 with the count when QoS 1 messages stayed unacknowledged.
func TestStopWhenThePeerIsWedged(t *testing.T) {
	type command struct {
		name  string
		args  []string
		stdin func() io.Reader
		// want is the exit code per wedge; a wedge missing from it is not
		// a wedge for the command (it finishes on its own).
		want map[wedge]int
	}
	all := func(code int) map[wedge]int {
		return map[wedge]int{silent: code, deaf: code, mute: code, stalled: code}
	}
	connectOnly := map[wedge]int{silent: 130, mute: 130, stalled: 130}
	commands := []command{
		{name: "pub", args: []string{"pub", "-t", "wedge/pub", "-l", "-q", "1"},
			stdin: func() io.Reader { return bytes.NewReader(bigLines()) },
			want:  map[wedge]int{silent: 130, deaf: 6, mute: 130, stalled: 130}},
		{name: "sub", args: []string{"sub", "-t", "wedge/#", "-q", "1"}, want: all(130)},
		{name: "pubsub", args: []string{"pubsub", "--interval", "10ms"}, want: all(130)},
		{name: "bench roundtrip", args: []string{"bench", "--no-progress", "-q", "1"}, want: all(130)},
		{name: "bench pub", args: []string{"bench", "pub", "--no-progress", "-q", "1", "-s", "4096", "--count", "1000000"},
			want: map[wedge]int{silent: 130, deaf: 6, mute: 130, stalled: 130}},
		{name: "req", args: []string{"req", "-t", "wedge/req", "-m", "x", "-q", "1", "-W", "0"}, want: all(130)},
		{name: "reply", args: []string{"reply", "-t", "wedge/#", "--echo"}, want: all(130)},
		{name: "shadow get", args: []string{"shadow", "get", "--thing", "wedge-1"}, want: all(130)},
		{name: "shadow watch", args: []string{"shadow", "watch", "--thing", "wedge-1"}, want: all(130)},
		{name: "jobs list", args: []string{"jobs", "list", "--thing", "wedge-1"}, want: all(130)},
		{name: "jobs run", args: []string{"jobs", "run", "--thing", "wedge-1", "--", "true"}, want: all(130)},
		{name: "provision", args: []string{"provision", "--template", "Wedge", "--create-key", "--out", filepath.Join(os.TempDir(), fmt.Sprintf("iotctl-wedge-%d", os.Getpid()))}, want: all(130)},
		{name: "whoami", args: []string{"whoami"}, want: connectOnly},
		{name: "profile validate --connect", args: []string{"profile", "validate", "--connect"}, want: connectOnly},
	}
	for _, c := range commands {
		for _, w := range []wedge{silent, deaf, mute, stalled} {
			want, ok := c.want[w]
			if !ok {
				continue
			}
			t.Run(c.name+"/"+string(w), func(t *testing.T) {
				peer := startWedged(t, w)
				o := clitest.Opts{Env: env(t), Args: append(peer.args(), c.args...)}
				if c.stdin != nil {
					o.Stdin = c.stdin()
				}
				p := clitest.Start(t, o)
				select {
				case <-peer.arrived:
				case <-p.Done():
					t.Fatalf("exit %d before reaching the %s\n%s", p.Cmd.ProcessState.ExitCode(), w, clitest.Tail(p.Stderr.String(), 20))
				case <-time.After(30 * time.Second):
					t.Fatalf("never reached the %s\n%s", w, clitest.Tail(p.Stderr.String(), 20))
				}
				t.Logf("reached the %s %s after the start", w, p.Elapsed().Round(time.Millisecond))
				code := signalStop(t, p, syscall.SIGTERM)
				stderr := p.Stderr.String()
				v := verdict(stderr)
				if code != want {
					t.Fatalf("exit %d, want %d\nstderr (tail): %s", code, want, clitest.Tail(stderr, 20))
				}
				switch want {
				case 130:
					if !strings.HasPrefix(v, "iotctl: interrupted") {
						t.Errorf("verdict %q, want iotctl: interrupted…", v)
					}
				case 6:
					m := regexp.MustCompile(`^iotctl: interrupted: (\d+) (QoS 1 )?messages? not acknowledged`).FindStringSubmatch(v)
					if m == nil {
						t.Fatalf("verdict %q does not count the unacknowledged messages", v)
					}
					n, _ := strconv.Atoi(m[1])
					if n == 0 {
						t.Errorf("verdict %q: exit 6 with nothing unacknowledged", v)
					}
					if c.name == "pub" {
						if s := parseSummary(t, stderr); s.unacked != n || s.acked != 0 || s.sent != n {
							t.Errorf("pub says %+v, the verdict %d unacknowledged; the deaf broker acknowledged nothing", s, n)
						}
					}
				}
			})
		}
	}
}

// TestSecondSignalExitsAtOnce: pub's first-signal shutdown waits for
// acknowledgements a deaf broker never sends; a second signal ends it at
// once with 130.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	peer := startWedged(t, deaf)
	p := clitest.Start(t, clitest.Opts{Env: env(t), Stdin: bytes.NewReader(bigLines()),
		Args: append(peer.args(), "pub", "-t", "wedge/twice", "-l", "-q", "1")})
	<-peer.arrived
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// With -v the root says how to exit at once: the first signal arrived.
	p.WaitStderr(t, "iotctl: SIGTERM: stopping (send it again to exit at once)", 10*time.Second)
	at := p.Elapsed()
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := p.Wait(t, 30*time.Second)
	took := p.Elapsed() - at
	t.Logf("exit %d %s after the second signal", code, took.Round(time.Millisecond))
	stderr := p.Stderr.String()
	if code != 130 || !strings.Contains(stderr, "iotctl: SIGINT again: exiting at once") {
		t.Errorf("exit %d, want 130 with 'SIGINT again: exiting at once'\n%s", code, clitest.Tail(stderr, 20))
	}
	// The first signal's shutdown waits shutdown.Grace (1.2 s) for the
	// acknowledgements alone.
	if took >= time.Second {
		t.Errorf("exit %s after the second signal, want at once", took.Round(time.Millisecond))
	}
}

// TestBrokerStopsWithWedgedClients: `iotctl broker` with clients that
// stopped (idle, half a CONNECT, a subscriber that stopped reading under a
// flood) says it is stopping on SIGTERM and exits within 3 s: 0 when it
// stopped cleanly, 1 saying it did not stop in time.
func TestBrokerStopsWithWedgedClients(t *testing.T) {
	p := clitest.Start(t, clitest.Opts{Env: env(t), Args: []string{"broker", "--listen", "127.0.0.1:0"}})
	listening := regexp.MustCompile(`listening mqtt://(\S+)\n`)
	if !p.Stdout.WaitFor(listening.MatchString, 30*time.Second, p.Done()) {
		t.Fatalf("no listener line\nstdout: %s\nstderr: %s", p.Stdout.String(), clitest.Tail(p.Stderr.String(), 20))
	}
	addr := listening.FindStringSubmatch(p.Stdout.String())[1]
	wedgeBroker(t, addr)
	code := signalStop(t, p, syscall.SIGTERM)
	stderr := p.Stderr.String()
	if !strings.Contains(stderr, "iotctl broker: SIGTERM: stopping (send it again to exit at once)") {
		t.Errorf("the broker did not say it is stopping\n%s", clitest.Tail(stderr, 20))
	}
	if strings.Contains(stderr, "iotctl: SIGTERM: stopping") {
		t.Errorf("the stopping line came twice\n%s", clitest.Tail(stderr, 20))
	}
	switch v := verdict(stderr); code {
	case 0:
		if !strings.Contains(stderr, "iotctl broker: stopped") {
			t.Errorf("exit 0 without 'stopped'\n%s", clitest.Tail(stderr, 20))
		}
	case 1:
		if !strings.HasPrefix(v, "iotctl: broker: did not stop within 2s of SIGTERM") {
			t.Errorf("exit 1 with the verdict %q", v)
		}
		t.Logf("the broker did not stop cleanly: %s", v)
	default:
		t.Errorf("exit %d, want 0 or 1\n%s", code, clitest.Tail(stderr, 20))
	}
}

// TestStopWithTheEmbeddedBroker: pubsub and bench with no endpoint run the
// embedded broker in-process; SIGTERM while they publish ends them within
// 3 s, the in-process broker included (a broker that does not stop in time
// is left behind with a warning).
func TestStopWithTheEmbeddedBroker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		started *regexp.Regexp // the embedded broker's address on stderr
		topic   string         // what to watch for to know publishing began
		codes   []int
	}{
		{"pubsub", []string{"pubsub", "--count", "100000", "--interval", "10ms", "-t", "embedded/pubsub"},
			regexp.MustCompile(`started the embedded broker on (mqtt://\S+)`), "embedded/pubsub", []int{130}},
		{"bench", []string{"bench", "--no-progress", "-q", "1", "-c", "4", "--subscribers", "2", "--duration", "1m"},
			regexp.MustCompile(`benchmarking the embedded broker started in this process on (mqtt://\S+)`), "iotctl/bench/#", []int{130, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := clitest.Start(t, clitest.Opts{Env: env(t), Args: tc.args})
			if !p.Stderr.WaitFor(tc.started.MatchString, 30*time.Second, p.Done()) {
				t.Fatalf("no embedded broker\n%s", clitest.Tail(p.Stderr.String(), 20))
			}
			url := tc.started.FindStringSubmatch(p.Stderr.String())[1]
			got := make(chan struct{}, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s := goSession(t, ctx, func(*session.Message) error {
				select {
				case got <- struct{}{}:
				default:
				}
				return nil
			}, "--endpoint", url)
			defer s.Close(context.Background(), 0)
			if _, err := s.Subscribe(ctx, []session.Subscription{{Filter: tc.topic}}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
			case <-p.Done():
				t.Fatalf("exit %d before publishing\n%s", p.Cmd.ProcessState.ExitCode(), clitest.Tail(p.Stderr.String(), 20))
			case <-ctx.Done():
				t.Fatalf("nothing published\n%s", clitest.Tail(p.Stderr.String(), 20))
			}
			code := signalStop(t, p, syscall.SIGTERM)
			if !slices.Contains(tc.codes, code) {
				t.Errorf("exit %d, want one of %v\n%s", code, tc.codes, clitest.Tail(p.Stderr.String(), 20))
			}
			if v := verdict(p.Stderr.String()); !strings.HasPrefix(v, "iotctl: interrupted") {
				t.Errorf("verdict %q, want iotctl: interrupted…", v)
			}
		})
	}
}
