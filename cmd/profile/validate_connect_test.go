package profile

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/certfile"
)

func startBroker(t *testing.T) string {
	t.Helper()
	b := testenv.StartBroker(t, broker.Options{Listen: "127.0.0.1:0", Home: t.TempDir()})
	return strings.TrimPrefix(b.URL(broker.MQTT), "mqtt://")
}

func TestValidateConnect(t *testing.T) {
	home(t)
	addr := startBroker(t)
	mustRun(t, "profile", "set", "local", "endpoint="+addr, "username=dev", "password=pw-secret")

	r := mustRun(t, "profile", "validate", "local", "--connect")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"ok    connect", "mqtt://" + addr + ": CONNACK success (0x00) in ", "client ID iotctl-", "receive maximum ", "maximum QoS 2"} {
		if !strings.Contains(last, want) {
			t.Errorf("no %q in %q", want, last)
		}
	}
	if strings.Contains(r.out+r.errOut, "pw-secret") {
		t.Errorf("validate shows the password")
	}

	r = mustRun(t, "profile", "validate", "local", "--connect", "-o", "json")
	var got struct {
		OK      bool             `json:"ok"`
		Checks  []certfile.Check `json:"checks"`
		Connack *struct {
			ReasonCode     int    `json:"reason_code"`
			ClientID       string `json:"client_id"`
			ReceiveMaximum int    `json:"receive_maximum"`
			MaximumQoS     int    `json:"maximum_qos"`
		} `json:"connack"`
		Latency *float64 `json:"connect_latency_ms"`
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("%v: %s", err, r.out)
	}
	if !got.OK || got.Connack == nil || got.Connack.ReasonCode != 0 || got.Connack.MaximumQoS != 2 || got.Connack.ReceiveMaximum == 0 ||
		!strings.HasPrefix(got.Connack.ClientID, "iotctl-") || got.Latency == nil || got.Checks[len(got.Checks)-1].Setting != "connect" {
		t.Errorf("json: %s", r.out)
	}

	// Without --connect nothing connects.
	r = mustRun(t, "profile", "validate", "local")
	if strings.Contains(r.out, "connect") {
		t.Errorf("validate connected without --connect:\n%s", r.out)
	}
}

func TestValidateConnectFailures(t *testing.T) {
	home(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	mustRun(t, "profile", "set", "down", "endpoint="+closed)
	r := run(t, "", "profile", "validate", "down", "--connect")
	if r.code() != 3 || !strings.Contains(r.out, "FAIL  connect   connect to "+closed) {
		t.Errorf("closed port: exit %d (%v):\n%s", r.code(), r.err, r.out)
	}
	r = run(t, "", "profile", "validate", "down", "--connect", "-o", "json")
	if r.code() != 3 || !strings.Contains(r.out, `"ok": false`) || !strings.Contains(r.out, `"status": "fail"`) {
		t.Errorf("closed port, json: exit %d:\n%s", r.code(), r.out)
	}

	// A failed file check: exit 2, and no connection attempt.
	mustRun(t, "profile", "set", "broken", "endpoint="+closed, "ca-file="+filepath.Join(t.TempDir(), "missing.pem"))
	r = run(t, "", "profile", "validate", "broken", "--connect")
	if r.code() != 2 || strings.Contains(r.out, "connect ") {
		t.Errorf("failed file check: exit %d (%v):\n%s", r.code(), r.err, r.out)
	}

	// Settings no provider can be built from: exit 2, as a FAIL line.
	mustRun(t, "profile", "set", "nouser", "endpoint="+closed, "auth=userpass")
	r = run(t, "", "profile", "validate", "nouser", "--connect")
	if r.code() != 2 || !strings.Contains(r.out, "FAIL  connect   auth userpass needs --username") {
		t.Errorf("no provider: exit %d (%v):\n%s", r.code(), r.err, r.out)
	}
}
