package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/mochi-mqtt/server/v2/packets"
)

// everyTenth is a broker hook that does something to every 10th bench message.
type everyTenth struct {
	broker.HookBase
	n   atomic.Int64
	err error // packets.CodeSuccessIgnore: acknowledge and drop; a Code >= 0x80: refuse
}

func (h *everyTenth) ID() string { return "every-tenth" }
func (h *everyTenth) Provides(b byte) bool {
	return b == broker.OnPublish
}
func (h *everyTenth) OnPublish(_ *broker.Client, pk packets.Packet) (packets.Packet, error) {
	if _, ok := ParseHeader(pk.Payload); ok && h.n.Add(1)%10 == 0 {
		return pk, h.err
	}
	return pk, nil
}

// A broker that drops every 10th message: the embedded broker with a hook
// (QoS 0; QoS 1 acknowledges and drops).
func TestLossDetectedBroker(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			url := startBroker(t, &everyTenth{err: packets.CodeSuccessIgnore})
			cfg := Config{Mode: Roundtrip, Publishers: 1, Subscribers: 2, QoS: qos, Size: 64, Count: 1000, Rate: 5000, Inflight: 10, Drain: 300 * time.Millisecond}
			res := runBench(t, cfg, dialerFor(t, testSettings(url)))
			// Each of the 100 dropped messages is missed by both subscribers.
			if res.Published != 1000 || res.Expected != 2000 || res.Received != 1800 || res.Lost != 200 || res.Duplicated != 0 {
				t.Errorf("published %d expected %d received %d lost %d duplicated %d; want 1000 2000 1800 200 0",
					res.Published, res.Expected, res.Received, res.Lost, res.Duplicated)
			}
			if qos == 1 && res.Acknowledged != 1000 {
				t.Errorf("acknowledged %d, want 1000", res.Acknowledged)
			}
		})
	}
}

// Subscribers that drop every 10th delivery, on mosquitto at every QoS.
func TestLossDetectedSubscriber(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, MaxQueuedMessages: -1})
	dial := dropEvery(10, dialerFor(t, testSettings(m.URL())))
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			cfg := Config{Mode: Roundtrip, Publishers: 2, Subscribers: 2, QoS: qos, Size: 64, Count: 1000, Drain: 300 * time.Millisecond}
			res := runBench(t, cfg, dial)
			// 2 subscribers × 2000 deliveries, every 10th dropped.
			if res.Published != 2000 || res.Expected != 4000 || res.Received != 3600 || res.Lost != 400 || res.Duplicated != 0 {
				t.Errorf("published %d expected %d received %d lost %d duplicated %d; want 2000 4000 3600 400 0",
					res.Published, res.Expected, res.Received, res.Lost, res.Duplicated)
			}
		})
	}
}

// mosquitto refuses publishes its ACL denies with PUBACK 0x87.
func TestRefusedByReasonCode(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte("topic read iotctl/bench/#\ntopic write iotctl/bench/r/0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{MaxInflightMessages: 1000, Extra: "acl_file " + acl})
	cfg := Config{Mode: Roundtrip, Publishers: 2, Subscribers: 1, QoS: 1, Size: 64, Count: 500, RunID: "r"}
	res := runBench(t, cfg, dialerFor(t, testSettings(m.URL())))
	// Publisher 1's messages are refused; they are not expected, not lost.
	if res.Published != 1000 || res.Acknowledged != 500 || res.Refused != 500 || res.RefusedByReason["0x87"] != 500 ||
		res.Expected != 500 || res.Received != 500 || res.Lost != 0 {
		t.Errorf("published %d acknowledged %d refused %d %v expected %d received %d lost %d",
			res.Published, res.Acknowledged, res.Refused, res.RefusedByReason, res.Expected, res.Received, res.Lost)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte("0x87×500")) {
		t.Errorf("text report lacks the refusals by reason:\n%s", out.String())
	}
}

// The embedded broker refusing every 10th message with 0x97 (quota exceeded).
func TestRefusedEmbedded(t *testing.T) {
	url := startBroker(t, &everyTenth{err: packets.ErrQuotaExceeded})
	cfg := Config{Mode: Roundtrip, Publishers: 1, Subscribers: 1, QoS: 1, Size: 64, Count: 1000, Rate: 5000, Inflight: 10}
	res := runBench(t, cfg, dialerFor(t, testSettings(url)))
	if res.Acknowledged != 900 || res.RefusedByReason["0x97"] != 100 || res.Received != 900 || res.Lost != 0 {
		t.Errorf("acknowledged %d refused %v received %d lost %d", res.Acknowledged, res.RefusedByReason, res.Received, res.Lost)
	}
}

// Sequences fed to a subscriber: duplicates, reordering, a gap, and
// messages that are not this run's.
func TestSubscriberCounts(t *testing.T) {
	clk := &fakeClock{}
	bk := newBook(false)
	s := newSubscriber(clk, RunTag("r"), false, bk)
	msg := func(h Header) *session.Message {
		b := make([]byte, HeaderSize)
		h.Put(b)
		return &session.Message{Payload: b}
	}
	for _, seq := range []uint64{0, 1, 1, 3, 2, 5, 5} {
		s.handle(msg(Header{RunTag: RunTag("r"), Publisher: 0, Seq: seq}))
	}
	s.handle(msg(Header{RunTag: RunTag("other"), Seq: 4}))
	s.handle(msg(Header{RunTag: RunTag("r"), Warmup: true, Seq: 4}))
	s.handle(&session.Message{Payload: []byte("not a bench message")})

	b := &Bench{cfg: Config{Mode: Roundtrip, RunID: "r"}}
	r := &Result{}
	b.count(r, bk, map[uint32]uint64{0: 6, 1: 3})
	// Publisher 0: 0 1 3 2 5 arrived (2 late), 1 and 5 twice, 4 lost.
	// Publisher 1: nothing of its 3 arrived.
	if r.Received != 5 || r.Duplicated != 2 || r.OutOfOrder != 1 || r.Lost != 4 || r.Expected != 9 {
		t.Errorf("received %d duplicated %d out of order %d lost %d expected %d; want 5 2 1 4 9",
			r.Received, r.Duplicated, r.OutOfOrder, r.Lost, r.Expected)
	}
	if got := s.ignored.Load(); got != 3 {
		t.Errorf("ignored %d, want 3", got)
	}
	if got := s.received.Load(); got != 5 {
		t.Errorf("live received %d, want 5", got)
	}
}
