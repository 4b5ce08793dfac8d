package iot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testpki"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/shadow")

// goldenTimestamp replaces the service's timestamps (this test run's
// clock) in golden files.
const goldenTimestamp = 1700000000

// allowAll lets the device do everything.
const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`

const markerTopic = "test/marker"

// shadowWorld starts an emulator with the shadow service, the fixed clock
// and cfg, and a device certificate with the given policies.
func shadowWorld(t *testing.T, cfg Config, docs ...string) (*testpki.Leaf, *world) {
	t.Helper()
	return leafWorld(t, cfg, docs...)
}

// msg is one message as the golden files show it.
type msg struct {
	Topic string `json:"topic"`
	// Payload is the JSON payload; Raw a payload that is not JSON.
	Payload json.RawMessage `json:"payload,omitempty"`
	Raw     string          `json:"raw,omitempty"`
}

func (m msg) bytes() []byte {
	if m.Raw != "" || m.Payload == nil {
		return []byte(m.Raw)
	}
	return m.Payload
}

// exchange is a request and the messages the subscribed client got for it.
type exchange struct {
	Request msg   `json:"request"`
	Replies []msg `json:"replies"`
}

// shadowClient is a connected device subscribed to every shadow reply
// topic of things it names, and to the marker topic.
type shadowClient struct {
	*client
	id     uint16
	marker int
}

func (w *world) shadowClient(t *testing.T, leaf *testpki.Leaf, id string, filters ...string) *shadowClient {
	t.Helper()
	c, _ := w.dialTLS(t, leaf)
	c.mustConnect(id)
	sc := &shadowClient{client: c, id: 1}
	if len(filters) > 0 {
		for i, code := range sc.subscribe(sc.next16(), filters...) {
			if code > 1 {
				t.Fatalf("subscribe %s: 0x%02X", filters[i], code)
			}
		}
	}
	return sc
}

func (c *shadowClient) next16() uint16 {
	c.id++
	return c.id
}

// publish sends a QoS 1 publish and returns the PUBACK's code; deliveries
// that come first are returned too.
func (c *shadowClient) publish(topic string, payload []byte) (byte, []msg) {
	c.t.Helper()
	id := c.next16()
	c.send(&packets.Publish{PacketID: id, QoS: 1, Topic: topic, Payload: payload, Properties: &packets.Properties{}})
	var got []msg
	for {
		p := c.read()
		switch x := p.Content.(type) {
		case *packets.Puback:
			if x.PacketID == id {
				return x.ReasonCode, got
			}
		case *packets.Publish:
			got = append(got, c.ack(x))
		}
	}
}

func (c *shadowClient) ack(p *packets.Publish) msg {
	if p.QoS == 1 {
		c.send(&packets.Puback{PacketID: p.PacketID, Properties: &packets.Properties{}})
	}
	m := msg{Topic: p.Topic}
	if json.Valid(p.Payload) {
		m.Payload = normalizeTimestamps(c.t, p.Payload)
	} else {
		m.Raw = string(p.Payload)
	}
	return m
}

// request publishes a request and returns every message delivered before
// a marker published after it: the replies, in order.
func (c *shadowClient) request(topic string, payload []byte) []msg {
	c.t.Helper()
	code, got := c.publish(topic, payload)
	if code != 0 {
		c.t.Fatalf("publish to %s: PUBACK 0x%02X", topic, code)
	}
	return c.untilMarker(got)
}

// untilMarker publishes a marker and reads deliveries until it comes.
func (c *shadowClient) untilMarker(got []msg) []msg {
	c.t.Helper()
	c.marker++
	want := fmt.Sprint(c.marker)
	code, more := c.publish(markerTopic, []byte(want))
	if code != 0 {
		c.t.Fatalf("marker: PUBACK 0x%02X", code)
	}
	got = append(got, more...)
	for {
		for i, m := range got {
			if m.Topic == markerTopic && string(m.bytes()) == want {
				return got[:i:i]
			}
		}
		p := c.read()
		if x, ok := p.Content.(*packets.Publish); ok {
			got = append(got, c.ack(x))
		}
	}
}

// testStart is when the tests started: the service's timestamps lie
// between it and now.
var testStart = time.Now().Unix()

// normalizeTimestamps sets every "timestamp" of this run to goldenTimestamp.
func normalizeTimestamps(t *testing.T, b []byte) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("reply %s: %v", b, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if n, ok := c.(json.Number); ok && k == "timestamp" {
					if i, err := n.Int64(); err == nil && i >= testStart && i <= time.Now().Unix() {
						x[k] = goldenTimestamp
					} else {
						t.Errorf("timestamp %s is not this run's (seconds since 1970)", n)
					}
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	out, _ := json.Marshal(v)
	return out
}

// jsonEqual compares JSON texts by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// TestShadowGolden replays testdata/shadow/*.in.json (requests) and
// compares every reply with *.golden.json (-update rewrites them).
func TestShadowGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/shadow/*.in.json")
	if len(ins) == 0 {
		t.Fatal("no testdata/shadow/*.in.json")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			var reqs []msg
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &reqs); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			leaf, w := shadowWorld(t, Config{}, allowAll)
			c := w.shadowClient(t, leaf, "dev1", "$aws/things/+/shadow/+/+", "$aws/things/+/shadow/name/+/+/+", markerTopic)
			var got []exchange
			for _, r := range reqs {
				got = append(got, exchange{Request: r, Replies: c.request(r.Topic, r.bytes())})
			}
			golden := strings.TrimSuffix(in, ".in.json") + ".golden.json"
			if *updateGolden {
				b, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			data, err = os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestShadowGolden -update)", err)
			}
			var want []exchange
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("%s: %v", golden, err)
			}
			if len(want) != len(got) {
				t.Fatalf("%d exchanges, golden has %d", len(got), len(want))
			}
			for i := range want {
				g, wn := got[i], want[i]
				if len(g.Replies) != len(wn.Replies) {
					t.Errorf("request %d (%s %s): %d replies, want %d:\n got %s", i+1, g.Request.Topic, g.Request.bytes(), len(g.Replies), len(wn.Replies), show(g.Replies))
					continue
				}
				for j := range wn.Replies {
					if g.Replies[j].Topic != wn.Replies[j].Topic || !jsonEqual(g.Replies[j].bytes(), wn.Replies[j].bytes()) {
						t.Errorf("request %d (%s %s) reply %d:\n got %s %s\nwant %s %s", i+1, g.Request.Topic, g.Request.bytes(), j+1,
							g.Replies[j].Topic, g.Replies[j].bytes(), wn.Replies[j].Topic, wn.Replies[j].bytes())
					}
				}
			}
		})
	}
}

func show(ms []msg) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  %s %s\n", m.Topic, m.bytes())
	}
	return b.String()
}

// TestShadowConcurrentVersion: updates with the same version from many
// connections at once: exactly one is accepted, the others get 409.
func TestShadowConcurrentVersion(t *testing.T) {
	leaf, w := shadowWorld(t, Config{}, allowAll)
	setup := w.shadowClient(t, leaf, "setup", "$aws/things/conc/shadow/update/+", markerTopic)
	setup.request("$aws/things/conc/shadow/update", []byte(`{"state":{"reported":{"n":0}}}`))

	const n = 8
	var wg sync.WaitGroup
	results := make([][]msg, n)
	clients := make([]*shadowClient, n)
	for i := range n {
		clients[i] = w.shadowClient(t, leaf, fmt.Sprintf("c%d", i),
			"$aws/things/conc/shadow/update/accepted", "$aws/things/conc/shadow/update/rejected", markerTopic)
	}
	start := make(chan struct{})
	first := make([]msg, 0)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Returns at the PUBACK: the request has been answered.
			_, got := clients[i].publish("$aws/things/conc/shadow/update",
				fmt.Appendf(nil, `{"state":{"desired":{"n":%d}},"version":1,"clientToken":"c%d"}`, i, i))
			if i == 0 {
				first = got
			}
		}()
	}
	close(start)
	wg.Wait()
	// Client 0 sees every accepted/rejected: count them.
	results[0] = clients[0].untilMarker(first)
	accepted, rejected := 0, 0
	for _, m := range results[0] {
		var body struct {
			ClientToken string `json:"clientToken"`
			Code        int    `json:"code"`
			Version     int    `json:"version"`
		}
		json.Unmarshal(m.bytes(), &body)
		switch {
		case strings.HasSuffix(m.Topic, "/accepted") && body.Version == 2:
			accepted++
		case strings.HasSuffix(m.Topic, "/rejected") && body.Code == 409:
			rejected++
		default:
			t.Errorf("unexpected %s %s", m.Topic, m.bytes())
		}
	}
	if accepted != 1 || rejected != n-1 {
		t.Errorf("%d accepted, %d rejected with 409; want 1 and %d:\n%s", accepted, rejected, n-1, show(results[0]))
	}
}
