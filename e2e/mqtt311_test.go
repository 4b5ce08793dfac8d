package e2e

import (
	"encoding/json"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// peer311 is a real broker for the MQTT 3.1.1 tests (issue 17) and how to
// read, from its own log, the MQTT version of each connection of a client.
type peer311 struct {
	name      string
	start     func(t *testing.T) (url string, protocols func(id string) []string)
	only311   bool // speaks MQTT 3.1.1 only
	logOnFail func() string
}

var peers311 = []peer311{
	{name: "nats", only311: true, start: func(t *testing.T) (string, func(string) []string) {
		n := testpeer.StartNATS(t, testpeer.NATSConfig{})
		return n.URL(), n.Protocols
	}},
	{name: "mosquitto", start: func(t *testing.T) (string, func(string) []string) {
		m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
		return m.URL(), m.Protocols
	}},
}

// connectedAs311 waits until the broker's log shows a connection of each
// client ID, and fails unless every one of them is MQTT 3.1.1.
func connectedAs311(t *testing.T, protocols func(string) []string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		deadline := time.Now().Add(wait)
		got := protocols(id)
		for len(got) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			got = protocols(id)
		}
		if len(got) == 0 || slices.ContainsFunc(got, func(v string) bool { return v != "3.1.1" }) {
			t.Errorf("the broker logged %s's connections as MQTT %q, want 3.1.1 only", id, got)
		}
	}
}

// TestMQTT311Commands runs the built iotctl with -V 3.1.1 against real
// brokers, NATS (3.1.1 only) and mosquitto: pub and sub (a retained
// message first, then a live one), pubsub, bench, whoami, and req with
// --response-topic answered by sub and pub. Each broker's log shows every
// connection as MQTT 3.1.1.
func TestMQTT311Commands(t *testing.T) {
	for _, peer := range peers311 {
		t.Run(peer.name, func(t *testing.T) {
			url, protocols := peer.start(t)
			v := func(args ...string) []string { return append([]string{"--endpoint", url, "-V", "3.1.1"}, args...) }

			t.Run("pub sub", func(t *testing.T) {
				run(t, nil, 0, v("pub", "--client-id", "e2e311-retain", "-t", "e2e/311/a", "-m", "first", "-r", "-q", "1")...)
				sub := iotctl(t, nil, v("sub", "--client-id", "e2e311-sub", "-t", "e2e/311/#", "-q", "1", "-C", "2", "-W", "60s", "-v")...)
				// The retained message arrives once the subscription is in place.
				sub.stdout.awaitMatch(t, sub, regexp.MustCompile(`(?m)^e2e/311/a first$`))
				run(t, nil, 0, v("pub", "--client-id", "e2e311-pub", "-t", "e2e/311/b", "-m", "second", "-q", "1")...)
				sub.expect(t, 0)
				if got := sub.stdout.String(); got != "e2e/311/a first\ne2e/311/b second\n" {
					t.Errorf("sub printed %q", got)
				}
				connectedAs311(t, protocols, "e2e311-retain", "e2e311-sub", "e2e311-pub")
			})

			t.Run("pubsub", func(t *testing.T) {
				p := run(t, nil, 0, v("pubsub", "--client-id", "e2e311-pubsub", "--count", "3", "--interval", "10ms")...)
				if n := strings.Count(p.stdout.String(), "Received message on topic test/topic: "); n != 3 {
					t.Errorf("pubsub received %d messages, want 3:\n%s", n, p.stdout.String())
				}
				connectedAs311(t, protocols, "e2e311-pubsub")
			})

			t.Run("bench", func(t *testing.T) {
				p := run(t, nil, 0, v("bench", "--count", "500", "-q", "1", "--no-progress", "--run-id", "e2e311", "-o", "json")...)
				var r struct{ Published, Acknowledged, Expected, Received, Lost, Duplicated int }
				if err := json.Unmarshal([]byte(p.stdout.String()), &r); err != nil {
					t.Fatalf("bench -o json: %v\n%s", err, p.stdout.String())
				}
				if r.Published != 500 || r.Acknowledged != 500 || r.Expected != 500 || r.Received != 500 || r.Lost != 0 || r.Duplicated != 0 {
					t.Errorf("bench: %+v, want 500 published, acknowledged and received, none lost or duplicated", r)
				}
				connectedAs311(t, protocols, "iotctl-e2e311-p0", "iotctl-e2e311-s0")
			})

			t.Run("whoami", func(t *testing.T) {
				p := run(t, nil, 0, v("whoami", "--client-id", "e2e311-whoami")...)
				out := p.stdout.String()
				for _, want := range []*regexp.Regexp{regexp.MustCompile(`(?m)^\s+mqtt-version:\s+3\.1\.1 \(flag\)$`), regexp.MustCompile(`(?m)^\s+MQTT version:\s+3\.1\.1$`), regexp.MustCompile(`(?m)^\s+CONNACK:\s+accepted \(return code 0\)$`)} {
					if !want.MatchString(out) {
						t.Errorf("whoami lacks %s:\n%s", want, out)
					}
				}
				connectedAs311(t, protocols, "e2e311-whoami")
			})

			t.Run("req", func(t *testing.T) {
				// The responder: sub on the request topic (and a probe topic
				// with a retained message, which shows it has subscribed),
				// then pub on the response topic.
				run(t, nil, 0, v("pub", "--client-id", "e2e311-probe", "-t", "e2e/311/probe", "-m", "ready", "-r", "-q", "1")...)
				responder := iotctl(t, nil, v("sub", "--client-id", "e2e311-responder", "-t", "e2e/311/probe", "-t", "e2e/311/req", "-q", "1", "-C", "2", "-W", "60s", "-v")...)
				responder.stdout.awaitMatch(t, responder, regexp.MustCompile(`(?m)^e2e/311/probe ready$`))
				req := iotctl(t, nil, v("req", "--client-id", "e2e311-req", "-t", "e2e/311/req", "-m", "ping", "--response-topic", "e2e/311/resp", "-q", "1", "-W", "60s")...)
				// req subscribes to the response topic before it publishes.
				got := regexp.MustCompile(`(?m)^e2e/311/req ping$`)
				for deadline := time.Now().Add(wait); !got.MatchString(responder.stdout.String()); time.Sleep(20 * time.Millisecond) {
					select {
					case <-req.done:
						t.Fatalf("req exited %d before the responder got the request\nstderr: %s", req.code, req.stderr.String())
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("the responder did not get the request within %s\nresponder: %s\nreq: %s", wait, responder.stderr.String(), req.stderr.String())
					}
				}
				responder.expect(t, 0)
				run(t, nil, 0, v("pub", "--client-id", "e2e311-reply", "-t", "e2e/311/resp", "-m", "pong", "-q", "1")...)
				req.expect(t, 0)
				if got := req.stdout.String(); got != "pong\n" {
					t.Errorf("req printed %q, want pong", got)
				}
				connectedAs311(t, protocols, "e2e311-responder", "e2e311-req", "e2e311-reply")
			})
		})
	}
}

// TestMQTT5ToMQTT311Broker: iotctl's default, MQTT 5, against NATS (3.1.1
// only, which answers the 3.1.1 CONNACK return code 1): exit 4 (refused)
// and one line that says what to do.
func TestMQTT5ToMQTT311Broker(t *testing.T) {
	n := testpeer.StartNATS(t, testpeer.NATSConfig{})
	for _, args := range [][]string{
		{"pub", "-t", "e2e/5", "-m", "x"},
		{"sub", "-t", "e2e/5", "-C", "1"},
	} {
		p := run(t, nil, 4, append([]string{"--endpoint", n.URL()}, args...)...)
		want := "iotctl: connect to " + n.Addr() + ": unsupported protocol version (0x84): the broker answered with an MQTT 3.1.1 CONNACK (return code 1): the broker does not speak MQTT 5: try --mqtt-version 3.1.1\n"
		if got := p.stderr.String(); got != want {
			t.Errorf("iotctl %s: stderr\n%q\nwant\n%q", args[0], got, want)
		}
	}
	if !strings.Contains(n.MQTTLog(), "unacceptable protocol version of 5") {
		t.Errorf("nats-server did not log the MQTT 5 CONNECT's refusal:\n%s", n.MQTTLog())
	}
}

// TestMQTT311Emulator: iotctl -V 3.1.1 against the IoT Core emulation with
// each authentication method (mutual TLS with and without ALPN
// x-amzn-mqtt-ca, SigV4 websocket, custom authorizer over TLS with ALPN
// mqtt and over websocket): sub and pub deliver, the subscriber's CONNECT
// is MQTT 3.1.1, and a publish the policy denies is refused (IoT Core
// closes a 3.1.1 connection for it: no PUBACK reason code) with exit 4.
func TestMQTT311Emulator(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test authorizer is an sh command line")
	}
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	allow := map[string]any{"isAuthenticated": true, "principalId": "e2e311", "policyDocuments": []string{seedPolicy}}
	w.start(t, iot.Config{
		Policies:    append(certPolicies(t, leaf), iot.Policy{Principal: "akid:AKIAE2E311", Doc: mustParse(t, seedPolicy)}),
		Credentials: []iot.Credential{{AccessKeyID: "AKIAE2E311", SecretAccessKey: "secret311"}},
		Authorizers: []iot.Authorizer{{Name: "allowAuth", Command: authorizerCmd(t, w.dir, "allow", allow)}},
	})
	tlsPort := w.port(broker.MQTTS)
	for _, m := range []struct {
		name, alpn string
		env        []string
		args       []string
	}{
		{"mutual TLS", "", nil, []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", tlsPort}},
		{"mutual TLS ALPN x-amzn-mqtt-ca", "x-amzn-mqtt-ca", nil, []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", tlsPort, "--alpn", "x-amzn-mqtt-ca"}},
		{"SigV4 websocket", "", awsEnv("AKIAE2E311", "secret311", ""), []string{"--auth", "sigv4", "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS), "--region", "us-east-1", "--ca-file", w.caFile}},
		{"custom authorizer", "mqtt", nil, []string{"--auth", "custom", "--authorizer-name", "allowAuth", "--authorizer-password", "pw", "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", tlsPort}},
		{"custom authorizer websocket", "", nil, []string{"--auth", "custom", "--authorizer-name", "allowAuth", "--ca-file", w.caFile, "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS)}},
	} {
		t.Run(m.name, func(t *testing.T) {
			args := append([]string{"-V", "3.1.1"}, m.args...)
			id := w.roundTrip(t, m.env, args...)
			if v := w.subs.mqttVersion(id); v != 4 {
				t.Errorf("the subscriber's CONNECT has protocol level %d, want 4 (MQTT 3.1.1)", v)
			}
			if p := w.subs.protocol(id); p != m.alpn {
				t.Errorf("negotiated ALPN %q, want %q", p, m.alpn)
			}
			p := run(t, m.env, 4, append([]string{"pub", "-t", "test/denied", "-q", "1", "-m", "x", "--client-id", "test-denied-311"}, args...)...)
			t.Logf("denied publish: %s", strings.TrimSpace(p.stderr.String()))
		})
	}
}
