package broker

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
)

// TestMosquittoClients sends QoS 0, 1 and 2 messages and a retained one
// through the broker with the real mosquitto_pub and mosquitto_sub, over
// plain TCP, TLS with the generated CA, and mutual TLS.
func TestMosquittoClients(t *testing.T) {
	dir := t.TempDir()
	clientCA := testpki.NewCA(t, "client CA")
	caFile := testpki.Write(t, dir, "client-ca.pem", clientCA.PEM)
	cert, key := clientCA.Client(t, "device-1", testpki.Options{}).Files(t, dir, "device-1")

	tests := []struct {
		name   string
		opts   Options
		scheme string
		auth   func(b *Broker) []string // mosquitto client TLS arguments
	}{
		{"tcp", Options{Listen: "127.0.0.1:0"}, MQTT, nil},
		{"tls", Options{TLSListen: "127.0.0.1:0"}, MQTTS, func(b *Broker) []string {
			return []string{"--cafile", b.CAFile()}
		}},
		{"mtls", Options{TLSListen: "127.0.0.1:0", ClientCA: caFile}, MQTTS, func(b *Broker) []string {
			return []string{"--cafile", b.CAFile(), "--cert", cert, "--key", key}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Verbose = true
			b := start(t, tt.opts)
			host, port := hostPort(t, b.URL(tt.scheme))
			conn := []string{"-V", "mqttv5", "-h", host, "-p", port}
			if tt.auth != nil {
				conn = append(conn, tt.auth(b)...)
			}
			pub := func(topic, msg string, extra ...string) {
				t.Helper()
				args := append(append([]string{}, conn...), append([]string{"-t", topic, "-m", msg}, extra...)...)
				if out, err := mosquittoPub(t, args...); err != nil {
					t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
				}
			}

			// QoS 2: see TestWebsockets.
			pub("t/retained", "kept", "-q", "2", "-r")
			// The retained message arrives first: after it the subscription
			// is in place for the live ones.
			lines := mosquittoSub(t, append(conn, "-t", "t/#", "-q", "2", "-C", "4", "-F", "%t %q %r %p")...)
			if got, want := next(t, lines), "t/retained 2 1 kept"; got != want {
				t.Fatalf("retained: got %q, want %q", got, want)
			}
			for qos := range 3 {
				pub("t/live", fmt.Sprintf("msg-%d", qos), "-q", fmt.Sprint(qos))
				if got, want := next(t, lines), fmt.Sprintf("t/live %d 0 msg-%d", qos, qos); got != want {
					t.Errorf("QoS %d: got %q, want %q", qos, got, want)
				}
			}
		})
	}
}

// TestMutualTLSRefusesClientsWithoutCertificate checks that ClientCA makes
// the certificate mandatory, and that one from another CA is refused.
func TestMutualTLSRefusesClientsWithoutCertificate(t *testing.T) {
	dir := t.TempDir()
	caFile := testpki.Write(t, dir, "client-ca.pem", testpki.NewCA(t, "client CA").PEM)
	otherCert, otherKey := testpki.NewCA(t, "other CA").Client(t, "stranger", testpki.Options{}).Files(t, dir, "stranger")
	var log syncBuffer
	b := start(t, Options{TLSListen: "127.0.0.1:0", ClientCA: caFile, Verbose: true, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	host, port := hostPort(t, b.URL(MQTTS))
	for _, extra := range [][]string{nil, {"--cert", otherCert, "--key", otherKey}} {
		args := append([]string{"-V", "mqttv5", "-h", host, "-p", port, "--cafile", b.CAFile(), "-t", "x", "-m", "y"}, extra...)
		if out, err := mosquittoPub(t, args...); err == nil {
			t.Errorf("mosquitto_pub %v succeeded without a trusted client certificate\n%s", extra, out)
		}
	}
	// mosquitto_pub can exit (TLS 1.3: its handshake is done before the
	// broker has checked its certificate) before the broker has logged
	// the refusal: wait for both lines, then close.
	refused := func() int {
		return strings.Count(log.String(), `msg="connection closed before a session" remote=127.0.0.1:`)
	}
	for deadline := time.Now().Add(30 * time.Second); refused() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	b.Close()
	if n := refused(); n != 2 {
		t.Errorf("log has %d lines for the refused connections, want 2:\n%s", n, log.String())
	}
}

// TestVerboseLog: one line per connection and disconnection, with client
// ID, remote address and listener.
func TestVerboseLog(t *testing.T) {
	var log syncBuffer
	b := start(t, Options{Listen: "127.0.0.1:0", Verbose: true, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	host, port := hostPort(t, b.URL(MQTT))
	for _, c := range []struct{ version, id string }{{"mqttv5", "logged-1"}, {"mqttv311", "logged-311"}} {
		if out, err := mosquittoPub(t, "-V", c.version, "-h", host, "-p", port, "-i", c.id, "-t", "x", "-m", "y"); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
		// mosquitto_pub exits once its DISCONNECT is written: wait until the
		// broker has read it, or Close races it ("server shutting down").
		expireGone(t, b, c.id)
	}
	b.Close()
	for _, msg := range []string{"client connected", "client disconnected"} {
		want := fmt.Sprintf(`msg=%q client=logged-1 remote=127.0.0.1:`, msg)
		if strings.Count(log.String(), want) != 1 || !strings.Contains(log.String(), "listener=mqtt") {
			t.Errorf("log lacks one %q line for logged-1:\n%s", msg, log.String())
		}
	}
	// The connection line names the protocol version.
	for _, want := range []string{`msg="client connected" client=logged-1 .* mqtt=5\n`, `msg="client connected" client=logged-311 .* mqtt=3\.1\.1\n`} {
		if !regexp.MustCompile(want).MatchString(log.String()) {
			t.Errorf("log lacks %s:\n%s", want, log.String())
		}
	}
	if strings.Contains(log.String(), "reason=") {
		t.Errorf("a clean disconnect logged a reason:\n%s", log.String())
	}
}

// TestGeneratedCertificatesAreReused checks the files, their modes, and that
// a second broker with the same Home reuses them.
func TestGeneratedCertificatesAreReused(t *testing.T) {
	home := t.TempDir()
	b1 := start(t, Options{Home: home, TLSListen: "127.0.0.1:0"})
	dir := filepath.Join(home, "broker")
	if got, want := b1.CAFile(), filepath.Join(dir, caCertName); got != want {
		t.Fatalf("CAFile = %q, want %q", got, want)
	}
	before := readFiles(t, dir)
	b2 := start(t, Options{Home: home, WSSListen: "127.0.0.1:0"})
	if b2.CAFile() != b1.CAFile() {
		t.Errorf("second broker's CA %q differs from %q", b2.CAFile(), b1.CAFile())
	}
	after := readFiles(t, dir)
	for name, data := range before {
		if after[name] != data {
			t.Errorf("%s was rewritten", name)
		}
	}
	// A lost server certificate is issued again by the same CA.
	if err := os.Remove(filepath.Join(dir, serverCertName)); err != nil {
		t.Fatal(err)
	}
	b4 := start(t, Options{Home: home, TLSListen: "127.0.0.1:0"})
	renewed := readFiles(t, dir)
	if renewed[caCertName] != before[caCertName] || renewed[serverCertName] == "" || renewed[serverKeyName] == before[serverKeyName] {
		t.Error("server certificate not renewed under the same CA")
	}
	host, port := hostPort(t, b4.URL(MQTTS))
	if out, err := mosquittoPub(t, "-V", "mqttv5", "-h", host, "-p", port, "--cafile", b4.CAFile(), "-t", "x", "-m", "y"); err != nil {
		t.Fatalf("renewed certificate: mosquitto_pub: %v\n%s", err, out)
	}
	assertMode(t, dir, 0o700)
	for _, name := range []string{caKeyName, serverKeyName} {
		assertMode(t, filepath.Join(dir, name), 0o600)
	}

	// Given certificates: no CA of ours.
	srv := testpki.NewCA(t, "server CA").Server(t, "localhost", "127.0.0.1")
	cert, key := srv.Files(t, t.TempDir(), "server")
	b3 := start(t, Options{Home: t.TempDir(), TLSListen: "127.0.0.1:0", TLSCert: cert, TLSKey: key})
	if b3.CAFile() != "" {
		t.Errorf("CAFile with given certificates = %q, want empty", b3.CAFile())
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"cert without key", Options{TLSListen: ":0", TLSCert: "c.pem"}, "--tls-key"},
		{"client CA without TLS", Options{Listen: ":0", ClientCA: "ca.pem"}, "--tls-listen"},
		{"missing cert file", Options{TLSListen: ":0", TLSCert: "nope.pem", TLSKey: "nope.key"}, "nope.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Home = t.TempDir()
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
