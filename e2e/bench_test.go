package e2e

import (
	"encoding/json"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// benchPolicy lets bench's default client IDs and topics through.
const benchPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/iotctl/bench/*"]},
 {"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/iotctl/bench/*"]},
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/iotctl-*"]}]}`

// TestBenchMutualTLS runs bench against the IoT Core emulation with
// certificates: every message published is acknowledged and received once,
// within IoT Core's 100 publishes/s per connection.
func TestBenchMutualTLS(t *testing.T) {
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	w.start(t, iot.Config{Policies: []iot.Policy{{Principal: iot.PrefixCert + leaf.ID(), Doc: mustParse(t, benchPolicy)}}})

	p := run(t, nil, 0, "bench", "--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile,
		"--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS), "--limits", "aws-iot",
		"-c", "2", "-q", "1", "--count", "100", "--rate", "150", "--no-progress", "-o", "json")
	var r struct {
		Published, Acknowledged, Received, Lost, Duplicated int
		Refused                                             int
		Connections                                         struct{ Opened, Failed int }
	}
	if err := json.Unmarshal([]byte(p.stdout.String()), &r); err != nil {
		t.Fatalf("bench -o json: %v\n%s", err, p.stdout.String())
	}
	if r.Published != 200 || r.Acknowledged != 200 || r.Received != 200 || r.Lost != 0 || r.Duplicated != 0 || r.Refused != 0 {
		t.Errorf("published %d acknowledged %d received %d lost %d duplicated %d refused %d, want 200/200/200/0/0/0",
			r.Published, r.Acknowledged, r.Received, r.Lost, r.Duplicated, r.Refused)
	}
	if r.Connections.Opened != 3 || r.Connections.Failed != 0 {
		t.Errorf("connections opened %d failed %d, want 3 and 0", r.Connections.Opened, r.Connections.Failed)
	}
}

// TestBenchStressIoT: the IoT Core emulation under QoS 1 load with
// publishers and subscribers together (rate limit off): every message is
// acknowledged and received by both subscribers, none lost. bench itself
// is the watchdog: publishers whose acknowledgements stop for
// --ack-timeout are counted, and the test has its own deadline.
func TestBenchStressIoT(t *testing.T) {
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	w.start(t, iot.Config{Policies: []iot.Policy{{Principal: iot.PrefixCert + leaf.ID(), Doc: mustParse(t, benchPolicy)}}})

	p := run(t, nil, 0, "bench", "--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile,
		"--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS), "--limits", "aws-iot",
		"-c", "6", "--subscribers", "2", "-q", "1", "--count", "2000", "--ack-timeout", "10s", "--no-progress", "-o", "json")
	var r struct {
		Published, Acknowledged, Received, Lost, Duplicated int
		AckTimeouts                                         int `json:"ack_timeouts"`
	}
	if err := json.Unmarshal([]byte(p.stdout.String()), &r); err != nil {
		t.Fatalf("bench -o json: %v\n%s", err, p.stdout.String())
	}
	if r.Published != 12000 || r.Acknowledged != 12000 || r.Received != 24000 || r.Lost != 0 || r.AckTimeouts != 0 {
		t.Errorf("published %d acknowledged %d received %d lost %d ack timeouts %d, want 12000/12000/24000/0/0",
			r.Published, r.Acknowledged, r.Received, r.Lost, r.AckTimeouts)
	}
}
