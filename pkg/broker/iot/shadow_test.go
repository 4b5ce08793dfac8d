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
	"github.com/iotctl/iotctl/pkg/policy"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/shadow and testdata/jobs")

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
	name   string // client ID, in its markers
	id     uint16
	marker int
	// clockBase: the emulator runs on a fake clock that started at this
	// second; the replies' times are shown as if it had been
	// goldenTimestamp (see shiftTimes).
	clockBase int64
}

func (w *world) shadowClient(t *testing.T, leaf *testpki.Leaf, id string, filters ...string) *shadowClient {
	t.Helper()
	c, _ := w.dialTLS(t, leaf)
	c.mustConnect(id)
	sc := &shadowClient{client: c, name: id, id: 1}
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
	if json.Valid(p.Payload) && c.clockBase != 0 {
		m.Payload = shiftTimes(c.t, p.Payload, c.clockBase)
	} else if json.Valid(p.Payload) {
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
	want := fmt.Sprint(c.name, " ", c.marker)
	code, more := c.publish(markerTopic, []byte(want))
	if code != 0 {
		c.t.Fatalf("marker: PUBACK 0x%02X", code)
	}
	got = append(got, more...)
	for {
		for i, m := range got {
			if m.Topic == markerTopic && string(m.bytes()) == want {
				return dropMarkers(got[:i:i])
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

// dropMarkers leaves out other clients' markers.
func dropMarkers(ms []msg) []msg {
	var out []msg
	for _, m := range ms {
		if m.Topic != markerTopic {
			out = append(out, m)
		}
	}
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
			checkGolden(t, strings.TrimSuffix(in, ".in.json")+".golden.json", got)
		})
	}
}

// checkGolden compares exchanges with a golden file (-update rewrites it).
func checkGolden(t *testing.T, golden string, got []exchange) {
	t.Helper()
	if *updateGolden {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
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

// js decodes JSON as the service does (numbers kept as written).
func js(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v.(map[string]any)
}

func TestShadowDelta(t *testing.T) {
	for _, tt := range []struct {
		name, desired, reported, want string
	}{
		{"equal scalars", `{"a":1,"b":"x","c":true}`, `{"a":1,"b":"x","c":true}`, ``},
		{"differing scalar", `{"a":1,"b":"x"}`, `{"a":2,"b":"x"}`, `{"a":1}`},
		{"missing in reported", `{"a":1}`, ``, `{"a":1}`},
		{"reported-only keys ignored", `{"a":1}`, `{"a":1,"z":9}`, ``},
		{"nested objects key by key", `{"o":{"x":1,"y":2,"p":{"q":1,"r":2}}}`, `{"o":{"x":1,"y":3,"p":{"q":1,"r":3}}}`, `{"o":{"y":2,"p":{"r":2}}}`},
		{"nested equal", `{"o":{"x":1}}`, `{"o":{"x":1,"extra":2}}`, ``},
		{"arrays equal", `{"l":[1,2,{"k":"v"}]}`, `{"l":[1,2,{"k":"v"}]}`, ``},
		{"arrays whole: order", `{"l":[1,2]}`, `{"l":[2,1]}`, `{"l":[1,2]}`},
		{"arrays whole: one element", `{"l":[{"a":1,"b":2}]}`, `{"l":[{"a":1,"b":3}]}`, `{"l":[{"a":1,"b":2}]}`},
		{"arrays whole: length", `{"l":[1]}`, `{"l":[1,1]}`, `{"l":[1]}`},
		{"object vs scalar", `{"a":{"x":1}}`, `{"a":5}`, `{"a":{"x":1}}`},
		{"scalar vs object", `{"a":5}`, `{"a":{"x":1}}`, `{"a":5}`},
		{"string vs number", `{"a":"1"}`, `{"a":1}`, `{"a":"1"}`},
		{"number by value", `{"a":1.0,"b":100}`, `{"a":1,"b":1e2}`, ``},
		{"bool vs string", `{"a":true}`, `{"a":"true"}`, `{"a":true}`},
		{"array vs object", `{"a":[1]}`, `{"a":{"0":1}}`, `{"a":[1]}`},
		{"empty desired", `{}`, `{"a":1}`, ``},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := delta(js(t, tt.desired), js(t, tt.reported))
			want := js(t, tt.want)
			if !equalJSON(anyMap(got), anyMap(want)) {
				t.Errorf("delta(%s, %s) = %v, want %s", tt.desired, tt.reported, got, tt.want)
			}
		})
	}
}

func anyMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// TestShadowMerge: null deletes a key (nested ones too), objects merge,
// arrays and type changes replace, "desired": null removes the section.
func TestShadowMerge(t *testing.T) {
	for _, tt := range []struct {
		name, start, update, want string
	}{
		{"add and change", `{"desired":{"a":1}}`, `{"desired":{"a":2,"b":3}}`, `{"desired":{"a":2,"b":3}}`},
		{"null deletes", `{"desired":{"a":1,"b":2}}`, `{"desired":{"a":null}}`, `{"desired":{"b":2}}`},
		{"nested null", `{"desired":{"o":{"x":1,"y":2}}}`, `{"desired":{"o":{"x":null}}}`, `{"desired":{"o":{"y":2}}}`},
		{"null of a missing key", `{"desired":{"a":1}}`, `{"desired":{"zz":null}}`, `{"desired":{"a":1}}`},
		{"last key deleted removes the section", `{"desired":{"a":1},"reported":{"b":1}}`, `{"desired":{"a":null}}`, `{"reported":{"b":1}}`},
		{"desired null", `{"desired":{"a":1},"reported":{"a":1}}`, `{"desired":null}`, `{"reported":{"a":1}}`},
		{"objects merge", `{"reported":{"o":{"x":1}}}`, `{"reported":{"o":{"y":2}}}`, `{"reported":{"o":{"x":1,"y":2}}}`},
		{"arrays replace", `{"reported":{"l":[1,2,3]}}`, `{"reported":{"l":[4]}}`, `{"reported":{"l":[4]}}`},
		{"scalar becomes object", `{"reported":{"a":1}}`, `{"reported":{"a":{"x":1,"gone":null}}}`, `{"reported":{"a":{"x":1}}}`},
		{"object becomes scalar", `{"reported":{"a":{"x":1}}}`, `{"reported":{"a":"s"}}`, `{"reported":{"a":"s"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cur := &shadowDoc{Version: 3}
			st := js(t, tt.start)
			cur.Desired, cur.MetaDesired = merge(nil, nil, mapOrNil(st["desired"]), 1)
			cur.Reported, cur.MetaReported = merge(nil, nil, mapOrNil(st["reported"]), 1)
			req, rerr := parseShadowRequest([]byte(`{"state":`+tt.update+`}`), true)
			if rerr != nil {
				t.Fatal(rerr)
			}
			next := applyUpdate(cur, req, 2)
			got, _ := stateOf(&next, false)
			if !equalJSON(got, js(t, tt.want)) || next.Version != 4 {
				b, _ := json.Marshal(got)
				t.Errorf("got %s version %d, want %s version 4", b, next.Version, tt.want)
			}
			// Metadata has the state's shape.
			if !sameShape(next.Desired, next.MetaDesired) || !sameShape(next.Reported, next.MetaReported) {
				t.Errorf("metadata %v %v does not match state %v %v", next.MetaDesired, next.MetaReported, next.Desired, next.Reported)
			}
			// The start document is left alone (an update that fails to
			// save changes nothing).
			if before, _ := stateOf(cur, false); !equalJSON(before, js(t, tt.start)) {
				t.Errorf("the current document changed: %v", before)
			}
		})
	}
}

func mapOrNil(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// sameShape: meta has a {"timestamp"} leaf for every leaf of state.
func sameShape(state, meta map[string]any) bool {
	if len(state) != len(meta) {
		return false
	}
	for k, v := range state {
		m, ok := meta[k].(map[string]any)
		if o, isObj := v.(map[string]any); isObj {
			if !ok || !sameShape(o, m) {
				return false
			}
			continue
		}
		if a, isArr := v.([]any); isArr {
			ma, ok := meta[k].([]any)
			if !ok || len(ma) != len(a) {
				return false
			}
			continue
		}
		if !ok || m["timestamp"] == nil {
			return false
		}
	}
	return true
}

// TestShadowPersistence: with a state directory, shadows (and the version
// of a deleted one) survive a restart; a stored shadow wins over its seed.
func TestShadowPersistence(t *testing.T) {
	stateDir := t.TempDir()
	seed := ShadowSeed{Thing: "dev1", Doc: []byte(`{"state":{"reported":{"seeded":true}}}`)}
	cfg := Config{StateDir: stateDir, Shadows: []ShadowSeed{seed}}
	leaf, w := shadowWorld(t, cfg, allowAll)
	c := w.shadowClient(t, leaf, "dev1", "$aws/things/+/shadow/+/+", "$aws/things/+/shadow/name/+/+/+", markerTopic)
	c.request("$aws/things/dev1/shadow/update", []byte(`{"state":{"desired":{"color":"red"}}}`))
	c.request("$aws/things/dev1/shadow/name/cfg:1/update", []byte(`{"state":{"reported":{"n":[1,2]}}}`))
	c.request("$aws/things/gone/shadow/update", []byte(`{"state":{"reported":{"x":1}}}`))
	c.request("$aws/things/gone/shadow/update", []byte(`{"state":{"reported":{"x":2}}}`))
	c.request("$aws/things/gone/shadow/delete", nil)
	before := c.request("$aws/things/dev1/shadow/get", nil)
	beforeNamed := c.request("$aws/things/dev1/shadow/name/cfg:1/get", nil)
	if err := w.b.Close(); err != nil {
		t.Fatal(err)
	}

	leaf, w = shadowWorld(t, cfg, allowAll)
	c = w.shadowClient(t, leaf, "dev1", "$aws/things/+/shadow/+/+", "$aws/things/+/shadow/name/+/+/+", markerTopic)
	after := c.request("$aws/things/dev1/shadow/get", nil)
	afterNamed := c.request("$aws/things/dev1/shadow/name/cfg:1/get", nil)
	if show(after) != show(before) || show(afterNamed) != show(beforeNamed) {
		t.Errorf("after a restart:\n%s%s\nwant\n%s%s", show(after), show(afterNamed), show(before), show(beforeNamed))
	}
	if !strings.Contains(show(after), `"seeded":true`) || !strings.Contains(show(after), `"version":2`) {
		t.Errorf("seed and update: %s", show(after))
	}
	got := c.request("$aws/things/gone/shadow/get", nil)
	if len(got) != 1 || !strings.HasSuffix(got[0].Topic, "/get/rejected") || !strings.Contains(string(got[0].bytes()), `"code":404`) {
		t.Errorf("deleted shadow after a restart: %s", show(got))
	}
	// A new shadow of a deleted one's name continues its version.
	got = c.request("$aws/things/gone/shadow/update", []byte(`{"state":{"reported":{"x":3}}}`))
	if len(got) == 0 || !strings.Contains(string(got[0].bytes()), `"version":3`) {
		t.Errorf("re-created shadow: %s, want version 3", show(got))
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "shadows", "*"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if strings.Join(names, " ") != "dev1.json dev1~cfg%3A1.json gone.json" {
		t.Errorf("state files %v", names)
	}

	// A damaged file stops the emulator with a message naming it.
	os.WriteFile(filepath.Join(stateDir, "shadows", "gone.json"), []byte("{"), 0o600)
	if _, err := New(Config{StateDir: stateDir}); err == nil || !strings.Contains(err.Error(), "gone.json") {
		t.Errorf("damaged state file: %v", err)
	}
}

// TestShadowPolicy: a request needs iot:Publish on its topic (denied: PUBACK
// 0x87 and no answer), and each answer iot:Receive on its topic.
func TestShadowPolicy(t *testing.T) {
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	leaf, w := shadowWorld(t, Config{}, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/*"},
	 {"Effect":"Allow","Action":"iot:Publish","Resource":["`+arn+`topic/$aws/things/dev1/shadow/update","`+arn+`topic/test/marker"]},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":["`+arn+`topicfilter/$aws/things/dev1/shadow/*","`+arn+`topicfilter/test/marker"]},
	 {"Effect":"Allow","Action":"iot:Receive","Resource":["`+arn+`topic/$aws/things/dev1/shadow/update/accepted","`+arn+`topic/$aws/things/dev1/shadow/get/*","`+arn+`topic/test/marker"]}]}`)
	other := w.clientCA.Client(t, "observer", testpki.Options{KeyType: testpki.EC})
	w.e.policies[PrefixCert+other.ID()] = []*policy.Document{doc(t, allowAll)}

	dev := w.shadowClient(t, leaf, "dev1", "$aws/things/dev1/shadow/get/accepted", "$aws/things/dev1/shadow/get/rejected",
		"$aws/things/dev1/shadow/update/accepted", "$aws/things/dev1/shadow/update/documents", "$aws/things/dev1/shadow/update/delta", markerTopic)
	obs := w.shadowClient(t, other, "observer", "$aws/things/dev1/shadow/+/+", markerTopic)

	// get: publish denied.
	code, got := dev.publish("$aws/things/dev1/shadow/get", []byte(`{"clientToken":"g"}`))
	if code != 0x87 {
		t.Errorf("denied get: PUBACK 0x%02X, want 0x87", code)
	}
	if got = dev.untilMarker(got); len(got) != 0 {
		t.Errorf("denied get answered: %s", show(got))
	}
	if got := obs.untilMarker(nil); len(got) != 0 {
		t.Errorf("denied get answered to the observer: %s", show(got))
	}
	w.logs.has(t, "IoT: denied", "action=iot:Publish", "topic/$aws/things/dev1/shadow/get")

	// update: allowed; the device may receive only update/accepted.
	got = dev.request("$aws/things/dev1/shadow/update", []byte(`{"state":{"desired":{"on":true}},"clientToken":"u"}`))
	if len(got) != 1 || got[0].Topic != "$aws/things/dev1/shadow/update/accepted" {
		t.Errorf("device got %s, want update/accepted only", show(got))
	}
	var topics []string
	for _, m := range obs.untilMarker(nil) {
		topics = append(topics, strings.TrimPrefix(m.Topic, "$aws/things/dev1/shadow/"))
	}
	if strings.Join(topics, " ") != "update/accepted update/delta update/documents" {
		t.Errorf("observer got %v", topics)
	}
	w.logs.has(t, "IoT: denied", "action=iot:Receive", "topic/$aws/things/dev1/shadow/update/documents", "client=dev1")

	// Another thing's shadow: publish denied.
	if code, _ := dev.publish("$aws/things/dev2/shadow/update", []byte(`{"state":{}}`)); code != 0x87 {
		t.Errorf("other thing's shadow: PUBACK 0x%02X, want 0x87", code)
	}
}

// TestShadowEdgeCases: a request that is not UTF-8 gets 415; publishes to
// reply topics and unknown shadow topics get no answer; a request over
// MQTT 3.1.1 is answered as over MQTT 5.
func TestShadowEdgeCases(t *testing.T) {
	leaf, w := shadowWorld(t, Config{}, allowAll)
	c := w.shadowClient(t, leaf, "dev1", "$aws/things/+/shadow/+/+", markerTopic)
	got := c.request("$aws/things/dev1/shadow/update", []byte("{\"state\":{\"reported\":{\"a\":\"\xff\"}}}"))
	if len(got) != 1 || !strings.HasSuffix(got[0].Topic, "update/rejected") || !strings.Contains(string(got[0].bytes()), `"code":415`) {
		t.Errorf("not UTF-8: %s", show(got))
	}
	for _, topic := range []string{"$aws/things/dev1/shadow/update/accepted", "$aws/things/dev1/shadow/list", "$aws/things/dev1/shadow/name/x/y/update"} {
		got := c.request(topic, []byte(`{"state":{"reported":{"a":1}}}`))
		// Only the message itself comes back (the client subscribed to it).
		for _, m := range got {
			if m.Topic != topic {
				t.Errorf("publish to %s answered: %s", topic, show(got))
			}
		}
	}
	// The service answered nothing: the classic shadow still does not exist.
	got = c.request("$aws/things/dev1/shadow/get", nil)
	if len(got) != 1 || !strings.HasSuffix(got[0].Topic, "get/rejected") {
		t.Errorf("get: %s", show(got))
	}
	// Gets and deletes of shadows that do not exist keep nothing.
	for i := range 20 {
		c.request(fmt.Sprintf("$aws/things/nobody%d/shadow/get", i), nil)
		c.request(fmt.Sprintf("$aws/things/nobody%d/shadow/name/n/delete", i), nil)
		c.request(fmt.Sprintf("$aws/things/nobody%d/shadow/update", i), []byte(`{"state":{"reported":{"a":1}},"version":3}`))
		c.request(fmt.Sprintf("$aws/things/nobody%d/shadow/name/big/update", i), []byte(`{"state":{"reported":{"a":"`+strings.Repeat("x", 9000)+`"}}}`))
	}
	w.e.shadows.mu.Lock()
	n := len(w.e.shadows.shadows)
	w.e.shadows.mu.Unlock()
	if n != 0 {
		t.Errorf("%d shadows kept after gets of missing ones and rejected updates, want 0", n)
	}
}

// FuzzShadowUpdate: any request body is answered without a panic, and an
// accepted update leaves metadata of the state's shape and a delta that
// desired and reported explain.
func FuzzShadowUpdate(f *testing.F) {
	for _, s := range []string{
		`{"state":{"desired":{"a":1,"o":{"x":[1,{"y":null}]}}},"version":0,"clientToken":"t"}`,
		`{"state":{"reported":{"a":null,"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}`,
		`{"state":{"desired":null}}`, `{"state":[]}`, `{"state":{"x":1}}`, `{}`, `[]`, `"s"`, `{"version":1e400}`,
		"{\"state\":{\"reported\":{\"\xff\":1}}}", `{"state":{"desired":{"a":1}}} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, rerr := parseShadowRequest(body, true)
		if rerr != nil {
			return
		}
		cur := &shadowDoc{Version: 1}
		cur.Desired, cur.MetaDesired = merge(nil, nil, map[string]any{"a": json.Number("1"), "o": map[string]any{"x": json.Number("2")}}, 1)
		next := applyUpdate(cur, req, 2)
		if !sameShape(next.Desired, next.MetaDesired) || !sameShape(next.Reported, next.MetaReported) {
			t.Fatalf("metadata does not match the state: %v %v / %v %v", next.Desired, next.MetaDesired, next.Reported, next.MetaReported)
		}
		d := delta(next.Desired, next.Reported)
		for k := range d {
			if _, ok := next.Desired[k]; !ok {
				t.Fatalf("delta key %q not in desired", k)
			}
		}
		updateReplies(shadowKey{thing: "t"}, cur, &next, req, 2)
		if _, err := json.Marshal(next); err != nil {
			t.Fatal(err)
		}
	})
}

// TestShadowConcurrentCreate: updates that create a shadow race with
// rejected ones (which keep nothing): every accepted update counts.
func TestShadowConcurrentCreate(t *testing.T) {
	leaf, w := shadowWorld(t, Config{}, allowAll)
	const n = 6
	clients := make([]*shadowClient, 2*n)
	for i := range clients {
		clients[i] = w.shadowClient(t, leaf, fmt.Sprintf("c%d", i))
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Appendf(nil, `{"state":{"reported":{"k%d":%d}}}`, i, i)
			if i%2 == 1 {
				body = []byte(`{"state":{"reported":{"bad":1}},"version":42}`)
			}
			for range 5 {
				c.publish("$aws/things/fresh/shadow/update", body) // answered at its PUBACK
			}
		}()
	}
	wg.Wait()
	got := w.shadowClient(t, leaf, "reader", "$aws/things/fresh/shadow/get/+", markerTopic).request("$aws/things/fresh/shadow/get", nil)
	if len(got) != 1 || !strings.Contains(string(got[0].bytes()), fmt.Sprintf(`"version":%d`, 5*n)) {
		t.Errorf("after %d accepted updates: %s", 5*n, show(got))
	}
	for i := 0; i < 2*n; i += 2 {
		if !strings.Contains(string(got[0].bytes()), fmt.Sprintf(`"k%d":%d`, i, i)) {
			t.Errorf("k%d lost: %s", i, show(got))
		}
	}
}
