package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestWebsockets delivers QoS 0, 1 and 2 messages and a retained one over
// ws and wss with a Go websocket client (Debian's mosquitto clients have no
// websocket support).
func TestWebsockets(t *testing.T) {
	for _, scheme := range []string{WS, WSS} {
		t.Run(scheme, func(t *testing.T) {
			b := start(t, Options{WSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0", Verbose: true})
			var roots *x509.CertPool
			if scheme == WSS {
				roots = caPool(t, b.CAFile())
			}
			dial := func(path string) *wsConn {
				t.Helper()
				c, _, err := dialWS(t, b.URL(scheme)+path, roots, nil)
				if err != nil {
					t.Fatalf("dial %s: %v", b.URL(scheme)+path, err)
				}
				return c
			}
			ctx := t.Context()
			pub := connect(t, dial("/mqtt"), "pub")
			// QoS 2: mochi acknowledges a QoS 1 PUBLISH before passing it
			// on, so a subscriber arriving just after the PUBACK could get
			// it twice, live and retained. PUBCOMP comes after.
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "t/retained", QoS: 2, Retain: true, Payload: []byte("kept")}); err != nil {
				t.Fatal(err)
			}
			sub := connect(t, dial("/"), "sub")
			if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t/#", QoS: 2}}}); err != nil {
				t.Fatal(err)
			}
			if m := sub.receive(t); m.Topic != "t/retained" || string(m.Payload) != "kept" || !m.Retain || m.QoS != 2 {
				t.Fatalf("retained: got %s %q retain=%v qos=%d", m.Topic, m.Payload, m.Retain, m.QoS)
			}
			for qos := range byte(3) {
				want := fmt.Sprintf("msg-%d", qos)
				if _, err := pub.Publish(ctx, &paho.Publish{Topic: "t/live", QoS: qos, Payload: []byte(want)}); err != nil {
					t.Fatalf("publish QoS %d: %v", qos, err)
				}
				if m := sub.receive(t); string(m.Payload) != want || m.QoS != qos || m.Retain {
					t.Errorf("QoS %d: got %q qos=%d retain=%v", qos, m.Payload, m.QoS, m.Retain)
				}
			}
			// A packet larger than one read buffer crosses frame reads.
			big := make([]byte, 200_000)
			for i := range big {
				big[i] = byte(i)
			}
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "t/big", QoS: 1, Payload: big}); err != nil {
				t.Fatal(err)
			}
			if m := sub.receive(t); string(m.Payload) != string(big) {
				t.Errorf("big payload: got %d bytes", len(m.Payload))
			}
		})
	}
}

// upgradeHook records what the websocket listener passed to the hooks.
type upgradeHook struct {
	HookBase
	seen chan ConnInfo
}

func (h *upgradeHook) ID() string { return "test-upgrade" }
func (h *upgradeHook) Provides(b byte) bool {
	return b == OnConnectAuthenticate
}
func (h *upgradeHook) OnConnectAuthenticate(cl *Client, _ packets.Packet) bool {
	info, ok := UpgradeInfo(cl)
	if !ok {
		return false
	}
	h.seen <- info
	return info.Value == "identity-7"
}

// TestAuthorize refuses an upgrade with the hook's status and shows the
// hook's value, and the request, to mochi hooks.
func TestAuthorize(t *testing.T) {
	hook := &upgradeHook{seen: make(chan ConnInfo, 1)}
	b := start(t, Options{
		WSSListen: "127.0.0.1:0",
		Authorize: func(r *http.Request) (any, int) {
			if r.URL.Query().Get("token") != "good" {
				return nil, http.StatusForbidden
			}
			return "identity-7", http.StatusOK
		},
		Hooks: []Hook{hook},
	})
	roots := caPool(t, b.CAFile())

	_, resp, err := dialWS(t, b.URL(WSS)+"/mqtt?token=bad", roots, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad token: err %v, response %v; want 403", err, resp)
	}
	_, resp, err = dialWS(t, b.URL(WSS)+"/elsewhere?token=good", roots, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("wrong path: err %v, response %v; want 404", err, resp)
	}

	conn, _, err := dialWS(t, b.URL(WSS)+"/mqtt?token=good", roots, http.Header{"X-Device": {"d-1"}})
	if err != nil {
		t.Fatal(err)
	}
	connect(t, conn, "device-1")
	info := <-hook.seen
	if info.Value != "identity-7" {
		t.Errorf("Value = %v, want identity-7", info.Value)
	}
	if r := info.Request; r == nil || r.Header.Get("X-Device") != "d-1" || r.URL.Query().Get("token") != "good" || r.TLS == nil {
		t.Errorf("Request = %+v, want the upgrade request with its header, query and TLS state", r)
	}
}

// TestTLSConfigHook lets the caller adjust each TLS listener's config.
func TestTLSConfigHook(t *testing.T) {
	seen := map[string]bool{}
	b := start(t, Options{
		TLSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0",
		TLSConfig: func(scheme string, c *tls.Config) {
			seen[scheme] = true
			c.NextProtos = append(c.NextProtos, "x-test")
		},
	})
	if !seen[MQTTS] || !seen[WSS] {
		t.Fatalf("TLSConfig called for %v, want mqtts and wss", seen)
	}
	_, addr, _ := strings.Cut(b.URL(MQTTS), "://")
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: caPool(t, b.CAFile()), ServerName: "localhost", NextProtos: []string{"x-test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "x-test" {
		t.Errorf("ALPN %q, want x-test", p)
	}
}
