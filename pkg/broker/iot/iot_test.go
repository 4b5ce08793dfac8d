package iot

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
)

// seed is the seed sample's policy (docs/AWS-IOT.md).
const seed = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/test/topic"]},
 {"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/test/topic"]},
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/test-*"]}]}`

func TestConnectPolicy(t *testing.T) {
	leaf, w := seedWorld(t, Config{})
	c, _ := w.dialTLS(t, leaf)
	ack := c.mustConnect("test-1")
	p := ack.Properties
	if p == nil || p.MaximumQOS == nil || *p.MaximumQOS != 1 || p.ReceiveMaximum == nil || *p.ReceiveMaximum != ReceiveMaximum ||
		p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != TopicAliasMaximum || p.SubIDAvailable == nil || *p.SubIDAvailable != 0 ||
		p.RetainAvailable == nil || *p.RetainAvailable != 1 {
		t.Errorf("CONNACK properties %s, want IoT Core's", p)
	}

	c, _ = w.dialTLS(t, leaf)
	if ack := c.connect("other-1"); ack.ReasonCode != 0x87 {
		t.Errorf("client other-1: CONNACK 0x%02X, want 0x87", ack.ReasonCode)
	}
	w.logs.has(t, "IoT: denied", "action=iot:Connect", "client/other-1", "principal=cert:"+leaf.ID())

	c, _ = w.dialTLS(t, leaf)
	if ack := c.connect("test-" + strings.Repeat("x", 124)); ack.ReasonCode != 0x85 {
		t.Errorf("129-byte client ID: CONNACK 0x%02X, want 0x85", ack.ReasonCode)
	}

	// A certificate of the same CA without a policy: denied, with a hint.
	other := w.clientCA.Client(t, "no-policy", testpki.Options{KeyType: testpki.RSA})
	c, _ = w.dialTLS(t, other)
	if ack := c.connect("test-2"); ack.ReasonCode != 0x87 {
		t.Errorf("no policy: CONNACK 0x%02X, want 0x87", ack.ReasonCode)
	}
	w.logs.has(t, "principal=cert:"+other.ID(), "no policy is attached")
}

// seedWorld attaches the seed policy to a client certificate.
func seedWorld(t *testing.T, cfg Config) (*testpki.Leaf, *world) {
	t.Helper()
	return leafWorld(t, cfg, seed)
}

// leafWorld starts a world whose client CA issued leaf before the
// emulator was configured, with docs attached to leaf's certificate ID.
func leafWorld(t *testing.T, cfg Config, docs ...string) (*testpki.Leaf, *world) {
	t.Helper()
	var leaf *testpki.Leaf
	w := startWorldWith(t, cfg, func(ca *testpki.CA, cfg *Config) {
		leaf = ca.Client(t, "device", testpki.Options{KeyType: testpki.EC})
		for _, d := range docs {
			cfg.Policies = append(cfg.Policies, Policy{Principal: PrefixCert + leaf.ID(), Doc: doc(t, d)})
		}
	})
	return leaf, w
}

func TestALPNRouting(t *testing.T) {
	leaf, w := seedWorld(t, Config{})
	for _, tt := range []struct {
		alpn          []string
		wantProto     string
		wantRequested bool
	}{
		{nil, "", true},
		{[]string{ALPNMutualTLS}, ALPNMutualTLS, true},
		{[]string{ALPNCustom}, ALPNCustom, false},
		{[]string{"h2", ALPNMutualTLS, ALPNCustom}, ALPNMutualTLS, true},
	} {
		t.Run(strings.Join(tt.alpn, ","), func(t *testing.T) {
			requested := false
			cert := leaf.TLSCertificate()
			conn, err := tls.Dial("tcp", w.addr(broker.MQTTS), &tls.Config{
				RootCAs: w.roots, ServerName: "localhost", NextProtos: tt.alpn,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					requested = true
					return &cert, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if st.NegotiatedProtocol != tt.wantProto || requested != tt.wantRequested {
				t.Errorf("ALPN %q, certificate requested %t; want %q, %t", st.NegotiatedProtocol, requested, tt.wantProto, tt.wantRequested)
			}
			if tt.wantRequested {
				newClient(t, conn).mustConnect("test-alpn")
			}
		})
	}

	t.Run("certificate of another CA", func(t *testing.T) {
		stranger := testpki.NewCA(t, "stranger").Client(t, "device", testpki.Options{})
		cert := stranger.TLSCertificate()
		// Sent even though the server's CA list does not cover it (Go's
		// client would withhold it).
		conn, err := tls.Dial("tcp", w.addr(broker.MQTTS), &tls.Config{RootCAs: w.roots, ServerName: "localhost",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
		if err == nil {
			c := newClient(t, conn)
			if _, err = (&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "test-x", CleanStart: true}).WriteTo(conn); err == nil {
				_, err = c.next()
			}
		}
		if err == nil {
			t.Fatal("a certificate of another CA was accepted")
		}
		w.logs.has(t, "TLS client certificate refused", stranger.ID())
	})
}

func TestPublishRules(t *testing.T) {
	leaf, w := leafWorld(t, Config{PublishRateLimit: 0}, seed,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":[
		"arn:aws:iot:us-east-1:123456789012:topic/a/*","arn:aws:iot:us-east-1:123456789012:topic/$aws/*"]}]}`)
	c, _ := w.dialTLS(t, leaf)
	c.mustConnect("test-pub")
	for _, tt := range []struct {
		topic  string
		retain bool
		want   byte
	}{
		{"test/topic", false, 0},
		{"test/other", false, 0x87},
		{"test/topic", true, 0x87}, // no iot:RetainPublish
		{"a/1/2/3/4/5/6/7", false, 0},
		{"a/1/2/3/4/5/6/7/8", false, 0x90},
		{"a/" + strings.Repeat("x", 255), false, 0x90},
		{"$aws/things/t1/shadow/update", false, 0},
		{"$aws/rules/r1/a/1/2/3/4/5/6/7", false, 0}, // the rule prefix does not count
		{"$aws/things/t1/shadow/update", true, 0x87},
		{"$aws/events/presence/connected/x", false, 0x87},
	} {
		if got := c.publish1(7, tt.topic, tt.retain); got != tt.want {
			t.Errorf("publish to %s (retain %t): PUBACK 0x%02X, want 0x%02X", tt.topic, tt.retain, got, tt.want)
		}
	}
	w.logs.has(t, "IoT: denied", "action=iot:Publish", "topic/test/other", "principal=cert:"+leaf.ID())
	w.logs.has(t, "IoT: denied", "action=iot:RetainPublish", "topic/test/topic")

	// A QoS 0 publish that is denied is dropped; the connection goes on.
	c.send(&packets.Publish{QoS: 0, Topic: "test/other", Payload: []byte("x"), Properties: &packets.Properties{}})
	if got := c.publish1(8, "test/topic", false); got != 0 {
		t.Errorf("after a dropped QoS 0 publish: PUBACK 0x%02X", got)
	}

	c.send(&packets.Publish{PacketID: 9, QoS: 2, Topic: "test/topic", Payload: []byte("x"), Properties: &packets.Properties{}})
	if code := c.disconnected(); code != 0x9B {
		t.Errorf("QoS 2 publish: DISCONNECT 0x%02X, want 0x9B", code)
	}

	c, _ = w.dialTLS(t, leaf)
	c.mustConnect("test-pub")
	c.send(&packets.Publish{PacketID: 1, QoS: 1, Topic: "test/topic", Payload: make([]byte, MaxPayloadBytes+1), Properties: &packets.Properties{}})
	if code := c.disconnected(); code != 0x95 {
		t.Errorf("payload over 128 KB: DISCONNECT 0x%02X, want 0x95", code)
	}
}

func TestPublishRateLimit(t *testing.T) {
	// A stopped clock: no token is earned back while the test runs.
	stopped := time.Now()
	leaf, w := seedWorld(t, Config{PublishRateLimit: 2, Now: func() time.Time { return stopped }})
	c, _ := w.dialTLS(t, leaf)
	c.mustConnect("test-rate")
	var codes []byte
	for i := range 4 {
		codes = append(codes, c.publish1(uint16(i+1), "test/topic", false))
	}
	if want := []byte{0, 0, 0x97, 0x97}; !bytes.Equal(codes, want) {
		t.Errorf("PUBACK codes %x, want %x", codes, want)
	}
	w.logs.has(t, "publish refused", "rate limit of 2 per second")
}

func TestBucket(t *testing.T) {
	now := time.Now()
	b := newBucket(10, now)
	n := 0
	for b.take(now) {
		n++
	}
	if n != 10 {
		t.Errorf("burst %d, want 10", n)
	}
	if !b.take(now.Add(100*time.Millisecond)) || b.take(now.Add(100*time.Millisecond)) {
		t.Error("a tenth of a second should earn exactly one publish back")
	}
	n = 0
	for b.take(now.Add(time.Hour)) {
		n++
	}
	if n != 10 {
		t.Errorf("after an hour: %d, want the burst of 10", n)
	}
}

func TestSubscribeRules(t *testing.T) {
	leaf, w := leafWorld(t, Config{}, seed,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/s/*"}]}`)
	c, _ := w.dialTLS(t, leaf)
	c.mustConnect("test-sub")

	got := c.subscribe(1, "test/topic", "test/other", "s/1/2/3/4/5/6/7/8", "$SYS/#", "s/a", "s/b", "s/c", "s/d", "s/e")
	want := []byte{1, 0x87, 0x8F, 0x87, 1, 1, 1, 1, 0x97}
	if !bytes.Equal(got, want) {
		t.Errorf("SUBACK %x, want %x", got, want)
	}
	w.logs.has(t, "IoT: denied", "action=iot:Subscribe", "topicfilter/test/other")

	// 5 subscriptions now (test/topic, s/a to s/d); fill to 50.
	n := 5
	for id := uint16(2); n < MaxSubscriptionsPerConn; id++ {
		var fs []string
		for len(fs) < MaxFiltersPerSubscribe && n+len(fs) < MaxSubscriptionsPerConn {
			fs = append(fs, fmt.Sprintf("s/n%d", n+len(fs)))
		}
		for i, code := range c.subscribe(id, fs...) {
			if code != 1 {
				t.Fatalf("filter %s: SUBACK 0x%02X", fs[i], code)
			}
		}
		n += len(fs)
	}
	// The 51st is over quota; subscribing again to an existing filter is not.
	if got := c.subscribe(100, "s/a", "s/one-too-many"); !bytes.Equal(got, []byte{1, 0x97}) {
		t.Errorf("at 50 subscriptions: SUBACK %x, want 01 97", got)
	}

	c.send(&packets.Subscribe{PacketID: 101, Subscriptions: []packets.SubOptions{{Topic: "test/topic", QoS: 1}},
		Properties: &packets.Properties{SubscriptionIdentifier: ptr(5)}})
	if code := c.disconnected(); code != 0xA1 {
		t.Errorf("subscription identifier: DISCONNECT 0x%02X, want 0xA1", code)
	}
}

func ptr[T any](v T) *T { return &v }

func TestReceive(t *testing.T) {
	leaf, w := leafWorld(t, Config{}, `{"Version":"2012-10-17","Statement":[
	 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/*"},
	 {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/*"},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/+/b"},
	 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/#"},
	 {"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/*/b"}]}`)
	sub, _ := w.dialTLS(t, leaf)
	sub.mustConnect("sub")
	// + is a literal character in policies: topicfilter/a/+/b allows a/+/b only.
	if got := sub.subscribe(1, "a/#", "a/+/b", "a/x/b"); !bytes.Equal(got, []byte{1, 1, 0x87}) {
		t.Fatalf("SUBACK %x, want 01 01 87", got)
	}
	pub, _ := w.dialTLS(t, leaf)
	pub.mustConnect("pub")
	for i, topic := range []string{"a/x/c", "a/x/b"} {
		if code := pub.publish1(uint16(i+1), topic, false); code != 0 {
			t.Fatalf("publish %s: 0x%02X", topic, code)
		}
	}
	// a/x/c is denied iot:Receive: the first delivery is a/x/b.
	p := sub.read()
	m, ok := p.Content.(*packets.Publish)
	if !ok || m.Topic != "a/x/b" {
		t.Fatalf("got %s, want the PUBLISH on a/x/b", p)
	}
	w.logs.has(t, "IoT: denied", "action=iot:Receive", "topic/a/x/c")
}

func TestThing(t *testing.T) {
	var leaf *testpki.Leaf
	w := startWorldWith(t, Config{}, func(ca *testpki.CA, cfg *Config) {
		leaf = ca.Client(t, "sensor", testpki.Options{})
		p := PrefixCert + leaf.ID()
		cfg.Policies = append(cfg.Policies, Policy{Principal: AnyPrincipal, Doc: doc(t, `{"Version":"2012-10-17","Statement":[
		 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
		 {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/site/${iot:Connection.Thing.Attributes[site]}"}]}`)})
		cfg.Things = append(cfg.Things, Thing{Name: "sensor-7", Principal: p, Attributes: map[string]string{"site": "plant7"}})
	})
	c, _ := w.dialTLS(t, leaf)
	c.mustConnect("sensor-7")
	if code := c.publish1(1, "site/plant7", false); code != 0 {
		t.Errorf("publish to the thing's site: 0x%02X", code)
	}
	c, _ = w.dialTLS(t, leaf)
	if ack := c.connect("sensor-8"); ack.ReasonCode != 0x87 {
		t.Errorf("client ID that is not the attached thing: CONNACK 0x%02X, want 0x87", ack.ReasonCode)
	}
}

// authorizerScript writes a custom authorizer that saves its event in
// dir/event.json and answers with dir/response.json.
func authorizerScript(t *testing.T, dir string) string {
	t.Helper()
	return fmt.Sprintf("cat > '%s'; cat '%s'", filepath.Join(dir, "event.json"), filepath.Join(dir, "response.json"))
}

func writeResponse(t *testing.T, dir string, r map[string]any) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	testpki.Write(t, dir, "response.json", b)
	os.Remove(filepath.Join(dir, "event.json"))
}

func readEvent(t *testing.T, dir string) (AuthorizerEvent, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "event.json"))
	if err != nil {
		return AuthorizerEvent{}, false
	}
	var ev AuthorizerEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("event %s: %v", b, err)
	}
	return ev, true
}

func TestCustomAuthorizer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test authorizers are sh command lines")
	}
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorld(t, Config{Authorizers: []Authorizer{
		{Name: "open", Command: authorizerScript(t, dir)},
		{Name: "signed", Command: authorizerScript(t, dir), PublicKey: &key.PublicKey},
	}})
	allowAll := map[string]any{"isAuthenticated": true, "principalId": "user1", "policyDocuments": []string{seed}}

	sign := func(token string) string {
		sum := sha256.Sum256([]byte(token))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	username := func(name, token, sig string) func(*packets.Connect) {
		u, err := auth.CustomAuthUsername("alice", name, "tok", token, sig, true, "1.0")
		if err != nil && token != "" {
			t.Fatal(err)
		}
		if token == "" {
			u, _ = auth.CustomAuthUsername("alice", name, "", "", "", true, "1.0")
		}
		return func(c *packets.Connect) {
			c.Username, c.UsernameFlag = u, true
			c.Password, c.PasswordFlag = []byte{0, 1, 2}, true
		}
	}

	t.Run("direct TLS with ALPN mqtt", func(t *testing.T) {
		writeResponse(t, dir, allowAll)
		c, _ := w.dialTLS(t, nil, ALPNCustom)
		c.mustConnect("test-c1", username("open", "", ""))
		ev, _ := readEvent(t, dir)
		if ev.SignatureVerified || strings.Join(ev.Protocols, ",") != "tls,mqtt" || ev.ProtocolData.TLS == nil ||
			ev.ProtocolData.TLS.ServerName != "localhost" || ev.ProtocolData.MQTT.ClientID != "test-c1" ||
			ev.ProtocolData.MQTT.Password != "AAEC" || !strings.HasPrefix(ev.ProtocolData.MQTT.Username, "alice?x-amz-customauthorizer-name=open") ||
			ev.ConnectionMetadata.ID == "" {
			t.Errorf("event %+v %+v", ev, ev.ProtocolData.MQTT)
		}
		if code := c.publish1(1, "test/topic", false); code != 0 {
			t.Errorf("publish allowed by the returned policy: 0x%02X", code)
		}
		if code := c.publish1(2, "test/other", false); code != 0x87 {
			t.Errorf("publish outside the returned policy: 0x%02X", code)
		}
		w.logs.has(t, "principal=custom:user1", "topic/test/other")
	})

	t.Run("signed token", func(t *testing.T) {
		writeResponse(t, dir, allowAll)
		c, _ := w.dialTLS(t, nil, ALPNCustom)
		c.mustConnect("test-c2", username("signed", "abc", sign("abc")))
		if ev, _ := readEvent(t, dir); !ev.SignatureVerified || ev.Token != "abc" {
			t.Errorf("event token %q verified %t", ev.Token, ev.SignatureVerified)
		}

		writeResponse(t, dir, allowAll)
		c, _ = w.dialTLS(t, nil, ALPNCustom)
		if ack := c.connect("test-c3", username("signed", "abd", sign("abc"))); ack.ReasonCode != 0x86 {
			t.Errorf("wrong signature: CONNACK 0x%02X, want 0x86", ack.ReasonCode)
		}
		if _, ran := readEvent(t, dir); ran {
			t.Error("the authorizer ran for a token whose signature does not verify")
		}
		w.logs.has(t, "connection refused", "does not verify")
		c, _ = w.dialTLS(t, nil, ALPNCustom)
		if ack := c.connect("test-c4", username("signed", "", "")); ack.ReasonCode != 0x86 {
			t.Errorf("no token: CONNACK 0x%02X, want 0x86", ack.ReasonCode)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		writeResponse(t, dir, allowAll)
		c, status := w.dialWS(t, "wss://"+w.addr(broker.WSS)+"/mqtt")
		if status != 101 {
			t.Fatalf("upgrade without SigV4: HTTP %d", status)
		}
		c.mustConnect("test-c5", username("open", "", ""))
		ev, _ := readEvent(t, dir)
		if strings.Join(ev.Protocols, ",") != "tls,http,mqtt" || ev.ProtocolData.HTTP == nil || ev.ProtocolData.HTTP.Headers["upgrade"] != "websocket" {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name     string
			response any
			user     func(*packets.Connect)
			want     byte
		}{
			{"not authenticated", map[string]any{"isAuthenticated": false}, username("open", "", ""), 0x86},
			{"unknown authorizer", allowAll, username("nobody", "", ""), 0x86},
			{"no authorizer name, two authorizers", allowAll, func(*packets.Connect) {}, 0x86},
			{"bad principalId", map[string]any{"isAuthenticated": true, "principalId": "a-b", "policyDocuments": []string{seed}}, username("open", "", ""), 0x87},
			{"principalId too long", map[string]any{"isAuthenticated": true, "principalId": strings.Repeat("p", 129), "policyDocuments": []string{seed}}, username("open", "", ""), 0x87},
			{"not JSON", "oops", username("open", "", ""), 0x87},
			{"no policies", map[string]any{"isAuthenticated": true, "principalId": "u2"}, username("open", "", ""), 0x87},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if m, ok := tt.response.(map[string]any); ok {
					writeResponse(t, dir, m)
				} else {
					testpki.Write(t, dir, "response.json", []byte(tt.response.(string)))
				}
				c := dialTCP(t, w.addr(broker.MQTT))
				if ack := c.connect("test-r", tt.user); ack.ReasonCode != tt.want {
					t.Errorf("CONNACK 0x%02X, want 0x%02X", ack.ReasonCode, tt.want)
				}
			})
		}
	})

	t.Run("disconnectAfterInSeconds", func(t *testing.T) {
		writeResponse(t, dir, map[string]any{"isAuthenticated": true, "principalId": "brief", "disconnectAfterInSeconds": 1, "policyDocuments": []string{seed}})
		c := dialTCP(t, w.addr(broker.MQTT))
		c.mustConnect("test-d", username("open", "", ""))
		if code := c.disconnected(); code != 0xA0 {
			t.Errorf("DISCONNECT 0x%02X, want 0xA0", code)
		}
	})
}

func TestSigV4(t *testing.T) {
	creds := []Credential{
		{AccessKeyID: "AKIDLONGTERM", SecretAccessKey: "s3cret"},
		{AccessKeyID: "ASIATEMP", SecretAccessKey: "t3mp", SessionToken: "tok/en+=", CognitoIdentityID: "us-east-1:0000-1111"},
	}
	w := startWorld(t, Config{Credentials: creds, SigV4MaxAge: time.Hour, Policies: []Policy{
		{Principal: "akid:AKIDLONGTERM", Doc: doc(t, seed)},
		{Principal: "cognito:us-east-1:0000-1111", Doc: doc(t, seed)},
	}})
	host := w.addr(broker.WSS)
	presign := func(c aws.Credentials, region string, at time.Time) string {
		u, err := auth.PresignURL(context.Background(), c, host, region, at)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	now := time.Now()
	good := aws.Credentials{AccessKeyID: "AKIDLONGTERM", SecretAccessKey: "s3cret"}
	temp := aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "t3mp", SessionToken: "tok/en+="}

	c, status := w.dialWS(t, presign(good, "us-east-1", now))
	if status != 101 {
		t.Fatalf("good signature: HTTP %d", status)
	}
	c.mustConnect("test-s1")
	if code := c.publish1(1, "test/topic", false); code != 0 {
		t.Errorf("publish: 0x%02X", code)
	}
	c, status = w.dialWS(t, presign(temp, "us-east-1", now))
	if status != 101 {
		t.Fatalf("session credentials: HTTP %d", status)
	}
	c.mustConnect("test-s2")
	c.publish1(1, "test/other", false)
	w.logs.has(t, "principal=cognito:us-east-1:0000-1111", "topic/test/other")

	for _, tt := range []struct {
		name string
		url  string
	}{
		{"wrong secret", presign(aws.Credentials{AccessKeyID: "AKIDLONGTERM", SecretAccessKey: "nope"}, "us-east-1", now)},
		{"unknown key", presign(aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "s3cret"}, "us-east-1", now)},
		{"wrong region", presign(good, "eu-west-1", now)},
		{"old date", presign(good, "us-east-1", now.Add(-6*time.Minute))},
		{"missing session token", presign(aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "t3mp"}, "us-east-1", now)},
		{"wrong session token", presign(aws.Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "t3mp", SessionToken: "other"}, "us-east-1", now)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, status := w.dialWS(t, tt.url); status != 403 {
				t.Errorf("HTTP %d, want 403", status)
			}
		})
	}
	if strings.Contains(w.logs.String(), "s3cret") || strings.Contains(w.logs.String(), "tok/en") {
		t.Errorf("a secret is in the log:\n%s", w.logs.String())
	}
	w.logs.has(t, "websocket upgrade refused", "status=403", "region eu-west-1")
}

func TestSigV4MaxAge(t *testing.T) {
	w := startWorld(t, Config{
		Credentials: []Credential{{AccessKeyID: "AKIDSHORT", SecretAccessKey: "s"}},
		SigV4MaxAge: 200 * time.Millisecond,
		Policies:    []Policy{{Principal: AnyPrincipal, Doc: doc(t, seed)}},
	})
	u, err := auth.PresignURL(context.Background(), aws.Credentials{AccessKeyID: "AKIDSHORT", SecretAccessKey: "s"}, w.addr(broker.WS), "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, status := w.dialWS(t, "ws://"+strings.TrimPrefix(u, "wss://"))
	if status != 101 {
		t.Fatalf("HTTP %d", status)
	}
	c.mustConnect("test-age")
	if code := c.disconnected(); code != 0xA0 {
		t.Errorf("DISCONNECT 0x%02X, want 0xA0", code)
	}
}

// TestMQTT311 checks the MQTT 3.1.1 answers with mosquitto_pub: return
// code 5 for a denied CONNECT, a closed connection for a denied publish.
func TestMQTT311(t *testing.T) {
	bin := testpeer.Require(t, "mosquitto_pub")
	leaf, w := seedWorld(t, Config{})
	dir := t.TempDir()
	cert, key := leaf.Files(t, dir, "device")
	ca := testpki.Write(t, dir, "ca.pem", w.serverCA.PEM)
	_, port, _ := strings.Cut(w.addr(broker.MQTTS), ":")
	pub := func(id, topic string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-V", "mqttv311", "-h", "127.0.0.1", "-p", port, "--cafile", ca, "--cert", cert, "--key", key,
			"-i", id, "-t", topic, "-m", "x", "-q", "1").CombinedOutput()
		return string(out), err
	}
	if out, err := pub("test-311", "test/topic"); err != nil {
		t.Errorf("allowed publish: %v\n%s", err, out)
	}
	if out, err := pub("other-311", "test/topic"); err == nil || !strings.Contains(strings.ToLower(out), "not author") {
		t.Errorf("denied CONNECT: %v\n%s", err, out)
	}
	if out, err := pub("test-311", "test/other"); err == nil {
		t.Errorf("denied publish succeeded:\n%s", out)
	}
}
