package whoami

import (
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
)

// whoami prints the protocol version in use; under 3.1.1, only what a 3.1.1
// CONNACK says.
func TestMQTTVersion(t *testing.T) {
	isolate(t)
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	r := mustRun(t, "--endpoint", m.URL(), "whoami", "-V", "mqttv311")
	for _, want := range []string{"MQTT version:", "3.1.1", "accepted (return code 0)", "in flight at most:        1000"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("no %q in\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "topic alias maximum") {
		t.Errorf("MQTT 5 capabilities under 3.1.1:\n%s", r.out)
	}
	r = mustRun(t, "--endpoint", m.URL(), "whoami", "-V", "3.1.1", "-o", "json")
	if m := decode(t, r.out); field(m, "connack", "mqtt_version") != "3.1.1" {
		t.Errorf("json: %s", r.out)
	}
	r = mustRun(t, "--endpoint", m.URL(), "whoami")
	if !strings.Contains(r.out, "MQTT version:             5") {
		t.Errorf("no MQTT version 5 in\n%s", r.out)
	}
	if log := m.Log(); strings.Count(log, "(p2, ") != 2 || strings.Count(log, "(p5, ") != 1 {
		t.Errorf("mosquitto's log:\n%s", log)
	}
}
