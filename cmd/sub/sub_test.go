package sub

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestNewCmdSubFlags(t *testing.T) {
	tests := []struct {
		args     []string
		want     Options
		wantOut  string // settings output
		wantVerb bool   // settings verbose
		wantErr  string
	}{
		{
			args: []string{"-t", "a/b", "--topic", "c/#"},
			want: Options{Topics: []string{"a/b", "c/#"}, RetainedQuiet: time.Second},
		},
		{
			args: []string{"-t", "a", "-q", "2", "-C", "5", "-W", "7", "-F", "json", "-v", "-N", "--no-local", "--retain-as-published", "--retain-handling", "1", "--retained-only", "--remove-retained", "--retained-quiet", "250ms"},
			want: Options{Topics: []string{"a"}, QoS: 2, Count: 5, Timeout: 7 * time.Second, Format: "json", Verbose: true, NoNewline: true, NoLocal: true, RetainAsPublished: true, RetainHandling: 1, RetainedOnly: true, RemoveRetained: true, RetainedQuiet: 250 * time.Millisecond},
		},
		{
			args:    []string{"-t", "a", "-W", "1m30s", "-o", "json", "--retain_handling", "2"},
			want:    Options{Topics: []string{"a"}, Timeout: 90 * time.Second, RetainHandling: 2, RetainedQuiet: time.Second},
			wantOut: "json",
		},
		{args: []string{"-t", "a", "-W", "soon"}, wantErr: "invalid duration"},
		{args: []string{"-t", "a", "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := cmdutil.Test()
			f := cmdutil.NewFactory(ios, "test")
			var got *Options
			root := testRoot(f, func(o *Options) error { got = o; return nil })
			root.SetArgs(append([]string{"sub"}, tt.args...))
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || cmdutil.ExitCode(err) != 2 {
					t.Fatalf("error %v (exit %d), want one containing %q, exit 2", err, cmdutil.ExitCode(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := got.Settings()
			if err != nil {
				t.Fatal(err)
			}
			wantOut := tt.wantOut
			if wantOut == "" {
				wantOut = "text"
			}
			if st.Output != wantOut || st.Verbose != tt.wantVerb {
				t.Errorf("settings output %q verbose %v, want %q %v", st.Output, st.Verbose, wantOut, tt.wantVerb)
			}
			got.IO, got.Settings = nil, nil
			if got.Encoding != "text" {
				t.Errorf("--encoding default %q, want text", got.Encoding)
			}
			got.Encoding = ""
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("options\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// Usage errors come before any connection: the endpoint is a closed port,
// so a check done after connecting would exit 3 instead of 2.
func TestSubUsageErrors(t *testing.T) {
	closed := "127.0.0.1:" + strconv.Itoa(testpeer.FreePort(t))
	many := func(n int) []string {
		var a []string
		for i := range n {
			a = append(a, "-t", fmt.Sprintf("f/%d", i))
		}
		return a
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no filter", nil, "no topic filter"},
		{"hash inside", []string{"-t", "a/#/b"}, `filter "a/#/b" has '#' in level 2 of 3`},
		{"plus inside", []string{"-t", "ok", "-t", "a/b+"}, "'+' must be a level of its own"},
		{"aws slashes", []string{"--limits", "aws-iot", "-t", "a/b/c/d/e/f/g/h/i/j"}, `filter "a/b/c/d/e/f/g/h/i/j" has 9 slashes: AWS IoT allows at most 7 (--limits aws-iot)`},
		{"aws qos 2", []string{"--limits", "aws-iot", "-t", "a", "-q", "2"}, "AWS IoT allows at most QoS 1"},
		{"aws 51 filters", append([]string{"--limits", "aws-iot"}, many(51)...), "51 subscriptions: AWS IoT allows at most 50"},
		{"aws client id", []string{"--limits", "aws-iot", "-t", "a", "--client-id", strings.Repeat("c", 129)}, "has 129 bytes: AWS IoT allows at most 128"},
		{"aws keepalive", []string{"--limits", "aws-iot", "-t", "a", "--keepalive", "10s"}, "keepalive 10s is out of range"},
		{"qos 3", []string{"-t", "a", "-q", "3"}, "QoS 3 is not a QoS level"},
		{"retain handling", []string{"-t", "a", "--retain-handling", "3"}, "--retain-handling 3"},
		{"retained-only rh2", []string{"-t", "a", "--retained-only", "--retain-handling", "2"}, "would receive nothing"},
		{"no-local shared", []string{"-t", "$share/g/a", "--no-local"}, "forbids no-local on shared subscriptions"},
		{"bad share", []string{"-t", "$share//a"}, "empty share name"},
		{"subscribe property", []string{"-t", "a", "--subscribe-property", "novalue"}, `--subscribe-property "novalue": want key=value`},
		{"subscribe property utf-8", []string{"-t", "a", "--subscribe-property", "k=\xff"}, "not valid UTF-8"},
		{"negative count", []string{"-t", "a", "-C", "-1"}, "must not be negative"},
		{"mosquitto format", []string{"-t", "a", "-F", "%t %p"}, "looks like a mosquitto_sub format"},
		{"bad template", []string{"-t", "a", "-F", "{{.Nope}}"}, "bad template"},
		{"bad endpoint", []string{"-t", "a", "--endpoint", "ftp://x"}, "--endpoint"},
		// As mosquitto_sub: a generated client ID could never resume.
		{"resume without client id", []string{"-t", "a", "--clean-start=false"}, "--clean-start=false without --client-id"},
		// MQTT 5-only flags under --mqtt-version 3.1.1, before connecting.
		{"311 no-local", []string{"-V", "3.1.1", "-t", "a", "--no-local"}, "--no-local: MQTT 5 only, and --mqtt-version is 3.1.1"},
		{"311 retain-as-published", []string{"-V", "311", "-t", "a", "--retain-as-published"}, "--retain-as-published: MQTT 5 only"},
		{"311 retain-handling", []string{"-V", "mqttv311", "-t", "a", "--retain-handling", "1"}, "--retain-handling: MQTT 5 only"},
		{"311 subscribe property", []string{"-V", "3.1.1", "-t", "a", "--subscribe-property", "k=v"}, "--subscribe-property: MQTT 5 only"},
		{"311 session expiry", []string{"-V", "3.1.1", "-t", "a", "--session-expiry", "1h", "--client-id", "c", "--clean-start=false"}, "--session-expiry: MQTT 5 only"},
		{"311 will delay", []string{"-V", "3.1.1", "-t", "a", "--will-topic", "w", "--will-delay", "5s"}, "--will-delay: MQTT 5 only"},
		{"311 connect property", []string{"-V", "3.1.1", "-t", "a", "--connect-property", "k=v"}, "--connect-property: MQTT 5 only"},
		{"311 max packet size", []string{"-V", "3.1.1", "-t", "a", "--max-packet-size", "1000"}, "--max-packet-size: MQTT 5 only"},
		{"311 request response info", []string{"-V", "3.1.1", "-t", "a", "--request-response-info"}, "--request-response-info: MQTT 5 only"},
		{"bad mqtt version", []string{"-V", "4", "-t", "a"}, `invalid value "4" for mqtt-version: want one of 5, 3.1.1 (or 311, mqttv311, mqttv5)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runSub(t, closed, tt.args...)
			_ = stderr
			if code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	// The error texts, through subRun directly.
	for _, tt := range tests {
		opts := testOptions(t, closed, tt.args...)
		err := subRun(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

// testOptions parses args into Options without running.
func testOptions(t *testing.T, endpoint string, args ...string) *Options {
	t.Helper()
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	var got *Options
	root := testRoot(f, func(o *Options) error { got = o; return nil })
	root.SetArgs(append([]string{"sub", "--endpoint", endpoint}, args...))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBatches(t *testing.T) {
	subs := make([]session.Subscription, 19)
	var sizes []int
	for _, b := range batches(subs, limits.AWSIoT.MaxSubscriptionsPerSubscribe) {
		sizes = append(sizes, len(b))
	}
	if !reflect.DeepEqual(sizes, []int{8, 8, 3}) {
		t.Errorf("batches of 19 by 8: %v", sizes)
	}
	if b := batches(subs, 0); len(b) != 1 || len(b[0]) != 19 {
		t.Errorf("no limit: %d batches", len(b))
	}
}

// subHook records SUBSCRIBE packets and refuses filters under "forbidden/".
type subHook struct {
	broker.HookBase
	mu   sync.Mutex
	subs [][]packets.Subscription
}

func (h *subHook) ID() string { return "test-sub" }
func (h *subHook) Provides(b byte) bool {
	return b == broker.OnSubscribe || b == broker.OnACLCheck || b == broker.OnConnectAuthenticate
}
func (h *subHook) OnConnectAuthenticate(*broker.Client, packets.Packet) bool { return true }
func (h *subHook) OnACLCheck(_ *broker.Client, topic string, write bool) bool {
	return write || !strings.HasPrefix(topic, "forbidden/")
}
func (h *subHook) OnSubscribe(_ *broker.Client, pk packets.Packet) packets.Packet {
	for i, f := range pk.Filters {
		if strings.HasPrefix(f.Filter, "forbidden/") {
			pk.ReasonCodes[i] = packets.ErrNotAuthorized.Code
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs = append(h.subs, append([]packets.Subscription(nil), pk.Filters...))
	return pk
}
func (h *subHook) packets() [][]packets.Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]packets.Subscription(nil), h.subs...)
}

func TestSubSubscribeOptions(t *testing.T) {
	hook := &subHook{}
	url := startBroker(t, hook)
	args := []string{"-q", "1", "--no-local", "--retain-as-published", "--retain-handling", "1", "-W", "300ms", "--limits", "aws-iot"}
	for i := range 10 {
		args = append(args, "-t", fmt.Sprintf("opt/%d/#", i))
	}
	_, stderr, code := runSub(t, url, args...)
	if code != 5 {
		t.Fatalf("exit %d, want 5 (nothing published): %s", code, stderr)
	}
	pks := hook.packets()
	if len(pks) != 2 || len(pks[0]) != 8 || len(pks[1]) != 2 {
		t.Fatalf("SUBSCRIBE packets %v, want 8 then 2 filters (aws-iot)", pks)
	}
	for _, s := range append(pks[0], pks[1]...) {
		if s.Qos != 1 || !s.NoLocal || !s.RetainAsPublished || s.RetainHandling != 1 {
			t.Errorf("subscription %+v: want QoS 1, no-local, retain-as-published, retain handling 1", s)
		}
	}
}

func TestSubQoSEmbedded(t *testing.T) {
	url := startBroker(t)
	for _, qos := range []byte{0, 1, 2} {
		t.Run("qos"+strconv.Itoa(int(qos)), func(t *testing.T) {
			testQoS(t, url, qos)
		})
	}
}

func testQoS(t *testing.T, url string, qos byte) {
	topic := fmt.Sprintf("qos/%d/%d", qos, time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, url, "-t", topic, "-q", strconv.Itoa(int(qos)), "-C", "3", "-F", "json")
	p.waitSubscribed(t)
	var msgs []*session.Message
	for i := range 5 {
		msgs = append(msgs, &session.Message{Topic: topic, Payload: []byte("m" + strconv.Itoa(i)), QoS: qos})
	}
	publish(t, url, msgs...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, p.err, p.errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(p.out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("-C 3 printed %d lines:\n%s", len(lines), p.out.String())
	}
	for i, l := range lines {
		var j JSONMessage
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatal(err)
		}
		if j.Topic != topic || j.Payload == nil || *j.Payload != "m"+strconv.Itoa(i) || j.QoS != qos || j.Retain {
			t.Errorf("line %d: %s", i, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, j.ReceivedAt); err != nil {
			t.Errorf("received_at: %v", err)
		}
	}
}

func TestSubPropertiesEmbedded(t *testing.T) {
	url := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, url, "-t", "props/#", "-q", "1", "-C", "2", "-F", "json")
	p.waitSubscribed(t)
	m := &session.Message{Topic: "props/a", Payload: []byte{0xde, 0xad, 0xbe, 0xef}, QoS: 1, Props: session.Properties{
		UserProperties:  []session.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}, {Key: "ü", Value: "ß"}},
		ContentType:     "application/octet-stream",
		ResponseTopic:   "reply/here",
		CorrelationData: []byte{0, 1, 2, 0xff},
		MessageExpiry:   u32(3600),
		PayloadFormat:   u8(0),
	}}
	plain := &session.Message{Topic: "props/b", Payload: []byte("plain"), QoS: 1, Props: session.Properties{PayloadFormat: u8(1)}}
	publish(t, url, m, plain)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v", code, p.err)
	}
	lines := strings.Split(strings.TrimSuffix(p.out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %q", p.out.String())
	}
	var j JSONMessage
	if err := json.Unmarshal([]byte(lines[0]), &j); err != nil {
		t.Fatal(err)
	}
	checkProps(t, lines[0], j, 3600)
	if j.PayloadBase64 == nil || *j.PayloadBase64 != "3q2+7w==" || j.Payload != nil {
		t.Errorf("binary payload: %s", lines[0])
	}
	// (mochi adds its own message expiry to messages without one; the
	// subscription identifier names sub's first -t.)
	if !strings.Contains(lines[1], `"payload":"plain"`) || !strings.Contains(lines[1], `"payload_format":1,"subscription_ids":[1]}`) {
		t.Errorf("second message: %s", lines[1])
	}
}

// checkProps checks the properties of fullProps' message as sub printed them.
func checkProps(t *testing.T, line string, j JSONMessage, maxExpiry uint32) {
	t.Helper()
	p := j.Properties
	if p == nil {
		t.Fatalf("no properties: %s", line)
	}
	want := [][2]string{{"k", "v1"}, {"k", "v2"}, {"ü", "ß"}}
	if !reflect.DeepEqual(p.UserProperties, want) || p.ContentType != "application/octet-stream" || p.ResponseTopic != "reply/here" ||
		!reflect.DeepEqual(p.CorrelationData, []byte{0, 1, 2, 0xff}) || p.PayloadFormat == nil || *p.PayloadFormat != 0 {
		t.Errorf("properties: %s", line)
	}
	if p.MessageExpiry == nil || *p.MessageExpiry > maxExpiry || *p.MessageExpiry < maxExpiry-5 {
		t.Errorf("message expiry: %s", line)
	}
	if !strings.Contains(line, `"correlation_data":"AAEC/w=="`) || !strings.Contains(line, `"user_properties":[["k","v1"],["k","v2"],["ü","ß"]]`) {
		t.Errorf("JSON spelling: %s", line)
	}
}

func TestSubExitCodesEmbedded(t *testing.T) {
	url := startBroker(t, &subHook{})
	closed := "127.0.0.1:" + strconv.Itoa(testpeer.FreePort(t))

	t.Run("3 closed port", func(t *testing.T) {
		stdout, stderr, code := runSub(t, closed, "-t", "a")
		if code != 3 || stdout != "" || !strings.Contains(stderr, "") {
			t.Fatalf("exit %d stdout %q", code, stdout)
		}
	})
	t.Run("4 SUBACK refused", func(t *testing.T) {
		p := startSub(t, context.Background(), url, "-t", "ok/#", "-t", "forbidden/x")
		code := p.wait(t)
		if code != 4 || p.out.String() != "" {
			t.Fatalf("exit %d (%v), stdout %q", code, p.err, p.out.String())
		}
		if !strings.Contains(p.err.Error(), "forbidden/x") || !strings.Contains(p.err.Error(), "0x87") {
			t.Errorf("error %q should name the filter and the reason code", p.err)
		}
	})
	t.Run("5 nothing within -W", func(t *testing.T) {
		start := time.Now()
		_, _, code := runSub(t, url, "-t", "quiet", "-W", "1s")
		if code != 5 {
			t.Fatalf("exit %d, want 5", code)
		}
		if d := time.Since(start); d < time.Second || d > 5*time.Second {
			t.Errorf("took %v for -W 1s", d)
		}
	})
	t.Run("5 -C not reached, what came is printed", func(t *testing.T) {
		ctx := context.Background()
		p := startSub(t, ctx, url, "-t", "partial", "-C", "3", "-W", "1500ms")
		p.waitSubscribed(t)
		publish(t, url, &session.Message{Topic: "partial", Payload: []byte("one"), QoS: 1})
		if code := p.wait(t); code != 5 {
			t.Fatalf("exit %d, want 5", code)
		}
		if p.out.String() != "one\n" || !strings.Contains(p.err.Error(), "received 1 of 3") {
			t.Errorf("stdout %q, err %v", p.out.String(), p.err)
		}
	})
	t.Run("0 -W with messages and no -C", func(t *testing.T) {
		p := startSub(t, context.Background(), url, "-t", "some", "-W", "1s")
		p.waitSubscribed(t)
		publish(t, url, &session.Message{Topic: "some", Payload: []byte("x")})
		if code := p.wait(t); code != 0 || p.out.String() != "x\n" {
			t.Fatalf("exit %d stdout %q", code, p.out.String())
		}
	})
	t.Run("130 interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := startSub(t, ctx, url, "-t", "intr")
		p.waitSubscribed(t)
		publish(t, url, &session.Message{Topic: "intr", Payload: []byte("before")})
		p.waitOutput(t, 1)
		cancel()
		if code := p.wait(t); code != 130 {
			t.Fatalf("exit %d, want 130: %v", code, p.err)
		}
		if p.out.String() != "before\n" {
			t.Errorf("stdout %q", p.out.String())
		}
	})
	t.Run("130 interrupted while connecting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = ctx
		p := startSub(t, ctx, url, "-t", "intr")
		if code := p.wait(t); code != 130 {
			t.Fatalf("exit %d, want 130: %v", code, p.err)
		}
	})
}

// Messages after -C are not printed and not acknowledged.
func TestSubCountStopsExactly(t *testing.T) {
	url := startBroker(t)
	p := startSub(t, context.Background(), url, "-t", "burst", "-q", "1", "-C", "2")
	p.waitSubscribed(t)
	var msgs []*session.Message
	for i := range 50 {
		msgs = append(msgs, &session.Message{Topic: "burst", Payload: []byte(strconv.Itoa(i)), QoS: 1})
	}
	publish(t, url, msgs...)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d: %v", code, p.err)
	}
	if p.out.String() != "0\n1\n" {
		t.Errorf("stdout %q, want exactly the first 2", p.out.String())
	}
}

// A will set on sub is not published when sub ends by -C or Ctrl-C: it
// always sends DISCONNECT 0x00.
func TestSubCleanDisconnect(t *testing.T) {
	url := startBroker(t)
	watch := startSub(t, context.Background(), url, "-t", "will/#", "-W", "3s")
	watch.waitSubscribed(t)

	p := startSub(t, context.Background(), url, "-t", "w1", "-C", "1", "-q", "1", "--will-topic", "will/w1", "--will-message", "gone")
	p.waitSubscribed(t)
	publish(t, url, &session.Message{Topic: "w1", Payload: []byte("a"), QoS: 1}, &session.Message{Topic: "w1", Payload: []byte("b"), QoS: 1})
	if code := p.wait(t); code != 0 {
		t.Fatal(p.err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p2 := startSub(t, ctx, url, "-t", "w2", "--will-topic", "will/w2", "--will-message", "gone")
	p2.waitSubscribed(t)
	cancel()
	if code := p2.wait(t); code != 130 {
		t.Fatal(p2.err)
	}
	if code := watch.wait(t); code != 5 || watch.out.String() != "" {
		t.Errorf("will published after a clean exit: %q (exit %d)", watch.out.String(), code)
	}
}

// -W is the total time: a broker that accepts TCP but never answers CONNECT
// makes sub time out (5), not fail to connect (3).
func TestSubTimeoutWhileConnecting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	stdout, _, code := runSub(t, l.Addr().String(), "-t", "a", "-W", "700ms")
	if code != 5 || stdout != "" {
		t.Fatalf("exit %d stdout %q, want 5", code, stdout)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v for -W 700ms", d)
	}
}
