package session

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connectSpy records the CONNECT packets the embedded broker receives and
// answers a request for Response Information with one.
type connectSpy struct {
	broker.HookBase
	mu       sync.Mutex
	connects []packets.Packet
}

func (h *connectSpy) ID() string { return "connect-spy" }
func (h *connectSpy) Provides(b byte) bool {
	return b == broker.OnConnect || b == broker.OnPacketEncode
}
func (h *connectSpy) OnConnect(_ *broker.Client, pk packets.Packet) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connects = append(h.connects, pk)
	return nil
}
func (h *connectSpy) OnPacketEncode(_ *broker.Client, pk packets.Packet) packets.Packet {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pk.FixedHeader.Type == packets.Connack && len(h.connects) > 0 && h.connects[len(h.connects)-1].Properties.RequestResponseInfo == 1 {
		pk.Properties.ResponseInfo = "resp/info/"
		pk.Mods.AllowResponseInfo = true
	}
	return pk
}

func (h *connectSpy) last(t *testing.T) packets.Packet {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.connects) == 0 {
		t.Fatal("the broker received no CONNECT")
	}
	return h.connects[len(h.connects)-1]
}

// TestConnectUserProperties: --connect-property pairs reach the broker in
// order (duplicates kept) and show in the --debug trace; mosquitto accepts them.
func TestConnectUserProperties(t *testing.T) {
	spy := &connectSpy{}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{spy}})
	args := []string{"--connect-property", "site=lab", "--connect-property", "site=äöü=x", "--connect-property", "empty="}
	var trace testenv.SyncBuffer
	dialSession(t, Options{Debug: &trace}, append([]string{"--endpoint", b.URL("mqtt")}, args...)...)
	var got [][2]string
	for _, u := range spy.last(t).Properties.User {
		got = append(got, [2]string{u.Key, u.Val})
	}
	if want := [][2]string{{"site", "lab"}, {"site", "äöü=x"}, {"empty", ""}}; !reflect.DeepEqual(got, want) {
		t.Errorf("broker received user properties %q, want %q", got, want)
	}
	if !strings.Contains(trace.String(), `user_property="site=lab" user_property="site=äöü=x" user_property="empty="`) {
		t.Errorf("trace lacks the CONNECT user properties:\n%s", trace.String())
	}

	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: "log_type all"})
	dialSession(t, Options{}, append([]string{"--endpoint", m.URL(), "--client-id", "connprops"}, args...)...)
	if log := m.Log(); !strings.Contains(log, "as connprops (p5") {
		t.Errorf("mosquitto did not accept the CONNECT:\n%s", log)
	}
}

// TestRequestResponseInfo: --request-response-info asks for Response
// Information; the broker's answer is in the capabilities.
func TestRequestResponseInfo(t *testing.T) {
	spy := &connectSpy{}
	b := testenv.StartBroker(t, broker.Options{Hooks: []broker.Hook{spy}})
	s := dialSession(t, Options{}, "--endpoint", b.URL("mqtt"))
	if v := spy.last(t).Properties.RequestResponseInfo; v != 0 {
		t.Errorf("request response info %d without the flag, want 0", v)
	}
	if ri := s.Capabilities().ResponseInformation; ri != "" {
		t.Errorf("response information %q without asking", ri)
	}
	var trace testenv.SyncBuffer
	s = dialSession(t, Options{Debug: &trace}, "--endpoint", b.URL("mqtt"), "--request-response-info")
	if v := spy.last(t).Properties.RequestResponseInfo; v != 1 {
		t.Errorf("request response info %d with the flag, want 1", v)
	}
	if ri := s.Capabilities().ResponseInformation; ri != "resp/info/" {
		t.Errorf("response information %q, want resp/info/", ri)
	}
	for _, want := range []string{"request_response_info=1", `response_information="resp/info/"`} {
		if !strings.Contains(trace.String(), want) {
			t.Errorf("trace lacks %s:\n%s", want, trace.String())
		}
	}
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	dialSession(t, Options{}, "--endpoint", m.URL(), "--request-response-info")
}

// TestConnectPropertiesInvalid: bad pairs are usage errors before connecting.
func TestConnectPropertiesInvalid(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--connect-property", "novalue"}, `--connect-property "novalue": want key=value`},
		{[]string{"--connect-property", "=v"}, `want key=value`},
		{[]string{"--connect-property", strings.Repeat("y", 1000)}, `yyy"…: want key=value`},
		{[]string{"--connect-property", "k=\xff"}, "not valid UTF-8"},
		{[]string{"--connect-property", "k=" + strings.Repeat("x", 65536)}, "too long"},
		{[]string{"--will-topic", "w", "--will-property", "a\x00=b"}, "U+0000"},
		{[]string{"--will-topic", "w", "--will-content-type", "\xfe"}, "--will-content-type"},
		{[]string{"--will-topic", "w", "--will-expiry", "2000000h"}, "--will-expiry"},
	} {
		// Nothing listens on port 1: a validation error comes first.
		st := testenv.Settings(t, append([]string{"--endpoint", "127.0.0.1:1"}, tc.args...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := Connect(ctx, Options{Settings: st, Provider: testProvider(t, st)})
		cancel()
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v (kind %v), want a usage error with %q", tc.args, err, errs.KindOf(err), tc.want)
		}
	}
}

// TestWillProperties: the will's expiry, content type and user properties
// come with the will message the broker publishes.
func TestWillProperties(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	b := testenv.StartBroker(t, broker.Options{})
	for name, url := range map[string]string{"mosquitto": m.URL(), "embedded": b.URL("mqtt")} {
		t.Run(name, func(t *testing.T) {
			col := newCollector()
			sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", url)
			if _, err := sub.Subscribe(context.Background(), []Subscription{{Filter: "will/props", QoS: 1}}); err != nil {
				t.Fatal(err)
			}
			var trace testenv.SyncBuffer
			s := dialSession(t, Options{Debug: &trace}, "--endpoint", url, "--will-topic", "will/props", "--will-message", "gone",
				"--will-qos", "1", "--will-expiry", "1h", "--will-content-type", "text/plain",
				"--will-property", "reason=test", "--will-property", "reason=again")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s.Close(ctx, 0x04) // disconnect with will message
			msg := col.wait(t, 1, 20*time.Second)[0]
			if string(msg.Payload) != "gone" || msg.Props.ContentType != "text/plain" {
				t.Errorf("will %q content type %q, want gone, text/plain", msg.Payload, msg.Props.ContentType)
			}
			if want := []UserProperty{{"reason", "test"}, {"reason", "again"}}; !reflect.DeepEqual(msg.Props.UserProperties, want) {
				t.Errorf("will user properties %v, want %v", msg.Props.UserProperties, want)
			}
			if e := msg.Props.MessageExpiry; e == nil || *e == 0 || *e > 3600 {
				t.Errorf("will message expiry %v, want 1..3600 s", e)
			}
			for _, want := range []string{"will_expiry=3600", `will_content_type="text/plain"`, `will_user_property="reason=test" will_user_property="reason=again"`} {
				if !strings.Contains(trace.String(), want) {
					t.Errorf("trace lacks %s:\n%s", want, trace.String())
				}
			}
		})
	}
}
