// Package peerfault runs the built iotctl binary against small fake
// brokers that misbehave: malformed packets, a broker that drops the
// connection on one message, reason strings and topics carrying terminal
// escape sequences. The fakes speak just enough MQTT 5 over TCP.
package peerfault

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/fakepeer"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

// fake accepts connections until the test ends; each gets the connack
// bytes after its CONNECT and is then handed, numbered from 0, to script.
type fake struct{ *fakepeer.Server }

func startFake(t *testing.T, connack []byte, script func(n int, c net.Conn, r *bufio.Reader)) *fake {
	t.Helper()
	if connack == nil {
		connack = []byte{0x20, 3, 0, 0, 0} // success, no properties
	}
	return &fake{fakepeer.Listen(t, func(n int, c net.Conn) {
		r := bufio.NewReader(c)
		if cp, err := packets.ReadPacket(r); err != nil || cp.Type != packets.CONNECT {
			return
		}
		if _, err := c.Write(connack); err != nil {
			return
		}
		script(n, c, r)
	})}
}

func (f *fake) endpoint() string { return f.Addr() }

// until reads packets until one of type typ; false when the client left.
func until(r *bufio.Reader, typ byte) (*packets.ControlPacket, bool) {
	for {
		cp, err := packets.ReadPacket(r)
		if err != nil {
			return nil, false
		}
		if cp.Type == typ {
			return cp, true
		}
	}
}

func drain(r *bufio.Reader) {
	for {
		if _, err := packets.ReadPacket(r); err != nil {
			return
		}
	}
}

// raw is a packet: fixed header byte, Remaining Length, body.
func raw(b0 byte, body []byte) []byte { return fakepeer.Packet(b0, body) }

func suback(id uint16) []byte { return raw(0x90, []byte{byte(id >> 8), byte(id), 0, 1}) }

// malformed are the packets of the issue (and a few more), with what the
// error must say about them.
var malformed = []struct {
	name, want string
	pkt        []byte
}{
	{"bad remaining length", `packet: malformed Remaining Length \(more than 4 bytes\)`, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},
	{"packet type 0", `packet: reserved packet type 0`, []byte{0x00, 0x00}},
	{"QoS 3", `PUBLISH: QoS 3 \(both QoS bits set\)`, raw(0x36, []byte{0, 1, 't', 0, 1, 0, 'x'})},
	{"property length beyond the packet", `PUBLISH: property length 10 exceeds the 2 bytes left in the packet`, raw(0x30, []byte{0, 1, 't', 10, 1, 1})},
}

type result struct {
	clitest.Result
	warnings, errors, other []string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := clitest.Run(t, clitest.Opts{Args: args, Stdin: strings.NewReader(stdin)})
	res := result{Result: r}
	for _, l := range strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "iotctl: warning: "):
			res.warnings = append(res.warnings, l)
		case strings.HasPrefix(l, "iotctl: "):
			res.errors = append(res.errors, l)
		default:
			res.other = append(res.other, l)
		}
	}
	if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "DATA RACE") {
		t.Fatalf("panic or race:\n%s", r.Stderr)
	}
	return res
}

// A malformed packet from the broker is a warning (the first, without -v)
// naming the packet and the violation, then reconnects with backoff, then
// exit 3 after --max-reconnects: for pub (the packet instead of a PUBACK)
// and for sub (the packet after the SUBACK).
func TestMalformedPackets(t *testing.T) {
	for _, tc := range malformed {
		for _, cmd := range []string{"pub", "sub"} {
			t.Run(cmd+" "+tc.name, func(t *testing.T) {
				f := startFake(t, nil, func(n int, c net.Conn, r *bufio.Reader) {
					want := byte(packets.PUBLISH)
					if cmd == "sub" {
						want = packets.SUBSCRIBE
					}
					cp, ok := until(r, want)
					if !ok {
						return
					}
					if cmd == "sub" {
						c.Write(suback(cp.PacketID()))
					}
					c.Write(tc.pkt)
					drain(r)
				})
				args := []string{cmd, "--endpoint", f.endpoint(), "-t", "t", "-q", "1", "--max-reconnects", "2"}
				if cmd == "pub" {
					args = append(args, "-m", "x")
				}
				res := run(t, "", args...)
				show := fmt.Sprintf("\nstdout %q\nstderr:\n%s", res.Stdout, res.Stderr)
				if res.Code != 3 {
					t.Errorf("exit %d, want 3%s", res.Code, show)
				}
				if res.Stdout != "" {
					t.Errorf("stdout not empty: a malformed packet must not print a message%s", show)
				}
				violation := `connection to 127\.0\.0\.1:\d+: protocol violation by the broker: ` + tc.want
				if len(res.warnings) != 1 || !regexp.MustCompile(violation+`: reconnecting`).MatchString(res.warnings[0]) {
					t.Errorf("want one warning naming the violation, got %q%s", res.warnings, show)
				}
				final := `^iotctl: gave up after 2 failed reconnects in a row \(--max-reconnects 2\): ` + violation
				if len(res.errors) != 1 || !regexp.MustCompile(final).MatchString(res.errors[0]) {
					t.Errorf("want one error line matching %s, got %q%s", final, res.errors, show)
				}
				if len(res.other) > 0 {
					t.Errorf("stray stderr lines %q", res.other)
				}
				if n := f.Conns(); n != 3 {
					t.Errorf("%d connections, want 3: the first and 2 reconnects", n)
				}
			})
		}
	}
}

// The poison loop of the issue: a broker that closes the connection on one
// message. pub drops it after 3 tries, delivers the others, counts it as
// refused and exits 4.
func TestPoisonMessage(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	f := startFake(t, nil, func(n int, c net.Conn, r *bufio.Reader) {
		for {
			cp, ok := until(r, packets.PUBLISH)
			if !ok {
				return
			}
			p := cp.Content.(*packets.Publish)
			mu.Lock()
			got[string(p.Payload)]++
			mu.Unlock()
			if string(p.Payload) == "b" {
				return // closed, as mosquitto does on a malformed property
			}
			c.Write(raw(0x40, []byte{byte(p.PacketID >> 8), byte(p.PacketID)}))
		}
	})
	res := run(t, "a\nb\nc\n", "pub", "--endpoint", f.endpoint(), "-t", "t", "-l", "-q", "1", "-v")
	show := fmt.Sprintf("\nstderr:\n%s", res.Stderr)
	if res.Code != 4 {
		t.Fatalf("exit %d, want 4%s", res.Code, show)
	}
	want := regexp.MustCompile(`^iotctl: 1 of 3 messages refused; the first: publish to t: dropped: the broker closed the connection each of the 3 times this message was sent \(last: connection to .* closed by the broker\)`)
	// -v also shows the refusal when it happens; the last line is the exit's.
	if len(res.errors) == 0 || !want.MatchString(res.errors[len(res.errors)-1]) {
		t.Errorf("error lines %q, want the last matching %s%s", res.errors, want, show)
	}
	if !strings.Contains(res.Stderr, "sent 3, acknowledged 2, refused 1, unacknowledged 0") {
		t.Errorf("the -v summary does not count the dropped message as refused%s", show)
	}
	mu.Lock()
	defer mu.Unlock()
	// Three strikes; the first connection acknowledged "a" before closing,
	// which blames nothing, so b went out once or twice more.
	if got["b"] < 3 || got["b"] > 5 || got["a"] < 1 || got["c"] < 1 {
		t.Errorf("the broker got %v: want b 3 to 5 times, a and c", got)
	}
}

const evil = "\x1b]0;pwned\x07\r\niotctl: all good"

// A reason string with a terminal title sequence and a forged line comes
// out escaped on one line.
func TestReasonStringEscaped(t *testing.T) {
	props := append([]byte{0x1F, 0, byte(len(evil))}, evil...)
	connack := raw(0x20, append([]byte{0, 0x87, byte(len(props))}, props...))
	f := startFake(t, connack, func(int, net.Conn, *bufio.Reader) {})
	res := run(t, "", "pub", "--endpoint", f.endpoint(), "-t", "t", "-m", "x")
	if res.Code != 4 {
		t.Fatalf("exit %d, want 4\n%s", res.Code, res.Stderr)
	}
	if strings.ContainsAny(res.Stderr, "\x1b\x07\r") || strings.Count(res.Stderr, "\n") != 1 {
		t.Fatalf("stderr is not one clean line: %q", res.Stderr)
	}
	if !strings.Contains(res.Stderr, `not authorized (0x87): \x1b]0;pwned\x07\r\niotctl: all good`) {
		t.Fatalf("stderr %q does not show the escaped reason string", res.Stderr)
	}
}

// sub -v escapes the topic (text for a terminal) but writes the payload
// byte for byte (data); -F json escapes by JSON's rules.
func TestSubTopicEscaped(t *testing.T) {
	topic := "t/\x1b[2J\rforged"
	payload := "raw\x1b[31m"
	pub := append([]byte{0, byte(len(topic))}, topic...)
	pub = append(pub, 0) // no properties
	pub = append(pub, payload...)
	f := startFake(t, nil, func(n int, c net.Conn, r *bufio.Reader) {
		cp, ok := until(r, packets.SUBSCRIBE)
		if !ok {
			return
		}
		c.Write(suback(cp.PacketID()))
		c.Write(raw(0x30, pub))
		drain(r)
	})
	res := run(t, "", "sub", "--endpoint", f.endpoint(), "-t", "#", "-v", "-C", "1")
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if want := `t/\x1b[2J\rforged ` + payload + "\n"; res.Stdout != want {
		t.Fatalf("stdout %q, want %q", res.Stdout, want)
	}
}
