package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// genPolicy runs `iotctl policy gen` and writes the policy to a file.
func genPolicy(t *testing.T, dir, name string, args ...string) (file, text string) {
	t.Helper()
	p := run(t, nil, 0, append([]string{"policy", "gen", "--region", "us-east-1", "--account", "123456789012"}, args...)...)
	text = p.stdout.String()
	return testpki.Write(t, dir, name, []byte(text)), text
}

// TestPolicyGenCheckEnforce: the seed policy from `policy gen`, checked by
// `policy check`, enforced by `iotctl broker --iot` run as a command.
func TestPolicyGenCheckEnforce(t *testing.T) {
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.RSA)
	file, _ := genPolicy(t, w.dir, "seed.json", "--topic", "test/topic", "--client-id", "test-*")

	check := func(want int, action, resource string) {
		t.Helper()
		run(t, nil, want, "policy", "check", "--policy", file, "--action", action, "--resource", resource)
	}
	check(0, "iot:Connect", "client/test-1")
	check(4, "iot:Connect", "client/other-1")
	check(0, "iot:Publish", "topic/test/topic")
	check(4, "iot:Publish", "topic/test/other")

	broker := iotctl(t, nil, "broker", "--iot", "--listen", "", "--tls-listen", "127.0.0.1:0",
		"--tls-cert", w.certFile, "--tls-key", w.keyFile, "--client-ca", w.clientCAFile,
		"--policy", iot.PrefixCert+leaf.ID()+"="+file)
	port := broker.stdout.awaitMatch(t, broker, regexp.MustCompile(`listening mqtts://127\.0\.0\.1:(\d+)\n`))[1]
	mtls := []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", port}

	run(t, nil, 0, append([]string{"pubsub", "--topic", "test/topic", "--client-id", "test-1", "--interval", "10ms"}, mtls...)...)
	run(t, nil, 4, append([]string{"pubsub", "--topic", "test/topic", "--client-id", "other-1", "--interval", "10ms"}, mtls...)...)
	run(t, nil, 4, append([]string{"pub", "-q", "1", "-t", "test/other", "-m", "x", "--client-id", "test-2"}, mtls...)...)

	log := broker.stderr.String()
	for _, want := range []string{
		"AWS IoT Core emulation: account 123456789012, region us-east-1",
		"action=iot:Connect resource=arn:aws:iot:us-east-1:123456789012:client/other-1 principal=cert:" + leaf.ID(),
		"action=iot:Publish resource=arn:aws:iot:us-east-1:123456789012:topic/test/other principal=cert:" + leaf.ID(),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("broker stderr lacks %q:\n%s", want, log)
		}
	}
}

// TestPolicySubscribeFilter: a generated --subscribe 'a/+/b' policy lets
// a/x/b be received and not a/x/c, through the filter itself and, with
// iot:Subscribe widened to a/#, through iot:Receive.
func TestPolicySubscribeFilter(t *testing.T) {
	w := newWorld(t)
	subLeaf, subCert, subKey := w.device(t, testpki.EC)
	wideLeaf, wideCert, wideKey := w.device(t, testpki.EC)
	pubLeaf, pubCert, pubKey := w.device(t, testpki.EC)
	_, text := genPolicy(t, w.dir, "sub.json", "--subscribe", "a/+/b", "--client-id", "test-*")

	// The same policy with iot:Subscribe on a/# too: only iot:Receive
	// keeps a/x/c away then.
	var wide map[string]any
	if err := json.Unmarshal([]byte(text), &wide); err != nil {
		t.Fatal(err)
	}
	wide["Statement"] = append(wide["Statement"].([]any), map[string]any{
		"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/a/#"})
	wideText, _ := json.Marshal(wide)

	w.start(t, iot.Config{Policies: []iot.Policy{
		{Principal: iot.PrefixCert + subLeaf.ID(), Doc: mustParse(t, text)},
		{Principal: iot.PrefixCert + wideLeaf.ID(), Doc: mustParse(t, string(wideText))},
		{Principal: iot.PrefixCert + pubLeaf.ID(), Doc: mustParse(t, `{"Version":"2012-10-17","Statement":[
		 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/test-*"},
		 {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/*"}]}`)},
	}})
	conn := func(cert, key string) []string {
		return []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port("mqtts")}
	}
	for _, tt := range []struct {
		name, filter, cert, key string
	}{
		{"filter a/+/b", "a/+/b", subCert, subKey},
		{"filter a/# and iot:Receive", "a/#", wideCert, wideKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "test-sub-" + strings.NewReplacer("/", "", "+", "p", "#", "h").Replace(tt.filter)
			sub := iotctl(t, nil, append([]string{"sub", "-t", tt.filter, "-q", "1", "-v", "-C", "2", "-W", "3s", "--client-id", id}, conn(tt.cert, tt.key)...)...)
			w.subs.await(t, sub, id, tt.filter)
			for _, topic := range []string{"a/x/c", "a/x/b"} {
				run(t, nil, 0, append([]string{"pub", "-q", "1", "-t", topic, "-m", "m-" + topic, "--client-id", "test-pub"}, conn(pubCert, pubKey)...)...)
			}
			sub.expect(t, 5) // -W 3s ends it waiting for a second message
			if got := sub.stdout.String(); got != "a/x/b m-a/x/b\n" {
				t.Errorf("sub printed %q, want only a/x/b", got)
			}
		})
	}
	w.hasLog(t, "IoT: denied", "action=iot:Receive", "topic/a/x/c", "principal=cert:"+wideLeaf.ID())
}
