package iot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	mqttpackets "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
)

// paho311 is an MQTT 3.1.1 client of github.com/eclipse/paho.mqtt.golang
// (a 3.1.1-only library): no automatic reconnection, its losses and
// messages on channels.
type paho311 struct {
	t    *testing.T
	c    mqtt.Client
	lost chan error
	msgs chan mqtt.Message
}

// dial311 connects as id with the options set by opts (broker URL, TLS,
// credentials) and returns the client, or the CONNECT's error.
func dial311(t *testing.T, id string, opts func(*mqtt.ClientOptions)) (*paho311, error) {
	t.Helper()
	p := &paho311{t: t, lost: make(chan error, 1), msgs: make(chan mqtt.Message, 100)}
	o := mqtt.NewClientOptions().SetClientID(id).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).SetKeepAlive(time.Minute).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { p.lost <- err }).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { p.msgs <- m })
	opts(o)
	p.c = mqtt.NewClient(o)
	if err := p.wait(p.c.Connect()); err != nil {
		return nil, err
	}
	t.Cleanup(func() { p.c.Disconnect(0) })
	return p, nil
}

func (p *paho311) wait(tok mqtt.Token) error {
	p.t.Helper()
	if !tok.WaitTimeout(wait) {
		p.t.Fatalf("%T not done within %s", tok, wait)
	}
	return tok.Error()
}

// subscribe subscribes to filter at QoS 1 and returns the SUBACK's code.
func (p *paho311) subscribe(filter string) byte {
	p.t.Helper()
	tok := p.c.Subscribe(filter, 1, nil)
	if err := p.wait(tok); err != nil {
		// paho reports a refused filter (0x80) as an error too.
		p.t.Logf("subscribe %s: %v", filter, err)
	}
	code, ok := tok.(*mqtt.SubscribeToken).Result()[filter]
	if !ok {
		p.t.Fatalf("no SUBACK code for %s", filter)
	}
	return code
}

// disconnected waits for the broker to close the connection.
func (p *paho311) disconnected(what string) {
	p.t.Helper()
	select {
	case <-p.lost:
	case <-time.After(wait):
		p.t.Fatalf("%s: still connected after %s", what, wait)
	}
}

// TestMQTT311AuthMethods: an MQTT 3.1.1 client (paho.mqtt.golang)
// connects to the emulator with every authentication method and gets IoT
// Core's MQTT 3.1.1 answers: CONNACK return code 5 for a denied
// iot:Connect, SUBACK 0x80 for a denied iot:Subscribe, delivery under
// iot:Receive, and, having no PUBACK reason code, a closed connection for
// a publish denied iot:Publish, at QoS 1 and at QoS 0.
func TestMQTT311AuthMethods(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test authorizer is an sh command line")
	}
	dir := t.TempDir()
	var leaf *testpki.Leaf
	w := startWorldWith(t, Config{
		Credentials: []Credential{{AccessKeyID: "AKID311", SecretAccessKey: "s3cret311"}},
		SigV4MaxAge: time.Hour,
		Authorizers: []Authorizer{{Name: "open", Command: authorizerScript(t, dir)}},
	}, func(ca *testpki.CA, cfg *Config) {
		leaf = ca.Client(t, "device", testpki.Options{KeyType: testpki.EC})
		cfg.Policies = append(cfg.Policies,
			Policy{Principal: PrefixCert + leaf.ID(), Doc: doc(t, seed)},
			Policy{Principal: "akid:AKID311", Doc: doc(t, seed)})
	})
	writeResponse(t, dir, map[string]any{"isAuthenticated": true, "principalId": "user311", "policyDocuments": []string{seed}})

	tlsTo := func(alpn ...string) *tls.Config {
		cfg := &tls.Config{RootCAs: w.roots, ServerName: "localhost", NextProtos: alpn}
		if len(alpn) == 0 || alpn[0] != ALPNCustom {
			cfg.Certificates = []tls.Certificate{leaf.TLSCertificate()}
		}
		return cfg
	}
	customUser, err := auth.CustomAuthUsername("alice", "open", "", "", "", true, "1.0")
	if err != nil {
		t.Fatal(err)
	}
	methods := []struct {
		name, principal string
		opts            func(*mqtt.ClientOptions)
	}{
		{"mutual TLS, ALPN x-amzn-mqtt-ca", "cert:" + leaf.ID(), func(o *mqtt.ClientOptions) {
			o.AddBroker("tls://" + w.addr(broker.MQTTS)).SetTLSConfig(tlsTo(ALPNMutualTLS))
		}},
		{"mutual TLS", "cert:" + leaf.ID(), func(o *mqtt.ClientOptions) {
			o.AddBroker("tls://" + w.addr(broker.MQTTS)).SetTLSConfig(tlsTo())
		}},
		{"SigV4 websocket", "akid:AKID311", func(o *mqtt.ClientOptions) {
			u, err := auth.PresignURL(context.Background(), aws.Credentials{AccessKeyID: "AKID311", SecretAccessKey: "s3cret311"}, w.addr(broker.WSS), "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			o.AddBroker(u).SetTLSConfig(tlsTo())
		}},
		{"custom authorizer, ALPN mqtt", "custom:user311", func(o *mqtt.ClientOptions) {
			o.AddBroker("tls://" + w.addr(broker.MQTTS)).SetTLSConfig(tlsTo(ALPNCustom)).SetUsername(customUser).SetPassword("pw")
		}},
		{"custom authorizer, websocket", "custom:user311", func(o *mqtt.ClientOptions) {
			o.AddBroker("wss://" + w.addr(broker.WSS) + "/mqtt").SetTLSConfig(&tls.Config{RootCAs: w.roots, ServerName: "localhost"}).
				SetUsername(customUser).SetPassword("pw")
		}},
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			// iot:Connect allows client/test-*: other-311 gets return code 5.
			if _, err := dial311(t, "other-311", m.opts); err == nil || !errors.Is(err, mqttpackets.ErrorRefusedNotAuthorised) {
				t.Errorf("client other-311: %v, want %v", err, mqttpackets.ErrorRefusedNotAuthorised)
			}
			w.logs.has(t, "IoT: denied", "action=iot:Connect", "client/other-311", "principal="+m.principal)

			c, err := dial311(t, "test-311", m.opts)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			if code := c.subscribe("test/topic"); code != 1 {
				t.Errorf("SUBACK 0x%02X for test/topic, want 0x01", code)
			}
			if code := c.subscribe("test/other"); code != 0x80 {
				t.Errorf("SUBACK 0x%02X for test/other, want 0x80 (denied)", code)
			}
			if err := c.wait(c.c.Publish("test/topic", 1, false, "hello 3.1.1")); err != nil {
				t.Fatalf("publish to test/topic: %v", err)
			}
			select {
			case msg := <-c.msgs:
				if msg.Topic() != "test/topic" || string(msg.Payload()) != "hello 3.1.1" || msg.Qos() != 1 {
					t.Errorf("received %s %q QoS %d", msg.Topic(), msg.Payload(), msg.Qos())
				}
			case <-time.After(wait):
				t.Fatal("own message on test/topic not received")
			}

			// A publish denied iot:Publish closes the connection.
			for _, qos := range []byte{1, 0} {
				c.c.Publish("test/other", qos, false, "denied")
				c.disconnected("publish to test/other at QoS " + string('0'+qos))
				w.logs.has(t, "IoT: denied", "action=iot:Publish", "topic/test/other", "principal="+m.principal)
				if qos == 1 {
					if c, err = dial311(t, "test-311", m.opts); err != nil {
						t.Fatalf("connect again: %v", err)
					}
				}
			}
		})
	}
}

// TestMQTT311WillNeedsPublish: IoT Core publishes a will only when the
// client may iot:Publish it (and iot:RetainPublish a retained one). A
// will on a topic the policy denies, from an MQTT 3.1.1 client whose
// connection breaks, must not reach a subscriber allowed to receive it.
func TestMQTT311WillNeedsPublish(t *testing.T) {
	leaf, w := leafWorld(t, Config{}, `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/test/*"]},
 {"Effect":"Allow","Action":["iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/*"]},
 {"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/*"]},
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/test-*"]}]}`)
	opts := func(o *mqtt.ClientOptions) {
		o.AddBroker("tls://" + w.addr(broker.MQTTS)).SetTLSConfig(&tls.Config{RootCAs: w.roots, ServerName: "localhost",
			NextProtos: []string{ALPNMutualTLS}, Certificates: []tls.Certificate{leaf.TLSCertificate()}})
	}
	watcher, err := dial311(t, "test-watcher", opts)
	if err != nil {
		t.Fatal(err)
	}
	if code := watcher.subscribe("#"); code != 1 {
		t.Fatalf("SUBACK 0x%02X for #", code)
	}
	// The denied will first, then an allowed one: deliveries to the watcher
	// keep their order, so the denied one would arrive first.
	for i, topic := range []string{"other/will", "test/will"} {
		var nc net.Conn
		if _, err := dial311(t, fmt.Sprintf("test-will-%d", i), func(o *mqtt.ClientOptions) {
			opts(o)
			o.SetWill(topic, "gone", 1, false)
			o.SetCustomOpenConnectionFn(func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
				c, err := tls.Dial("tcp", u.Host, o.TLSConfig)
				nc = c
				return c, err
			})
		}); err != nil {
			t.Fatal(err)
		}
		nc.Close() // no DISCONNECT: the will is due
	}
	select {
	case m := <-watcher.msgs:
		if m.Topic() != "test/will" {
			t.Fatalf("will on %s delivered: the policy denies iot:Publish on it", m.Topic())
		}
	case <-time.After(wait):
		t.Fatal("the allowed will on test/will not delivered")
	}
}
