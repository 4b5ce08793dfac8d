package iot

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testpki"
)

// Reply topics of fleet provisioning a device subscribes to.
var provisioningFilters = []string{
	"$aws/certificates/create/json/+",
	"$aws/certificates/create-from-csr/json/+",
	"$aws/provisioning-templates/+/provision/json/+",
	markerTopic,
}

// devicePolicy is what the test templates attach to a provisioned
// device: its own client ID and topics under device/<thing>/.
const devicePolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/device/${iot:Connection.Thing.ThingName}/*"},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/device/${iot:Connection.Thing.ThingName}/*"}]}`

// fleetTemplate names the thing dev-<SerialNumber> and attaches
// DevicePolicy.
const fleetTemplate = `{
 "Parameters": {"SerialNumber": {"Type": "String"}, "Model": {"Type": "String", "Default": "m1"},
   "AWS::IoT::Certificate::Id": {"Type": "String"}},
 "Resources": {
  "thing": {"Type": "AWS::IoT::Thing", "Properties": {
    "ThingName": {"Fn::Join": ["", ["dev-", {"Ref": "SerialNumber"}]]},
    "AttributePayload": {"serial": {"Ref": "SerialNumber"}, "model": {"Ref": "Model"}}}},
  "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
  "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}}},
 "DeviceConfiguration": {"FallbackUrl": "https://example.com/fallback", "Serial": {"Ref": "SerialNumber"}}
}`

// claimPolicy lets the claim certificate connect and provision only.
const claimPolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[
   "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/*",
   "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create-from-csr/*",
   "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/*",
   "arn:aws:iot:us-east-1:123456789012:topic/test/marker"]},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":[
   "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create/*",
   "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create-from-csr/*",
   "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/*",
   "arn:aws:iot:us-east-1:123456789012:topicfilter/test/marker"]}]}`

// provWorld starts an emulator with DevicePolicy, the FleetTemplate
// template and cfg, and a claim certificate with claimPolicy.
func provWorld(t *testing.T, cfg Config) (*testpki.Leaf, *world) {
	t.Helper()
	cfg.NamedPolicies = append(cfg.NamedPolicies, NamedPolicy{Name: "DevicePolicy", Document: []byte(devicePolicy)})
	if cfg.ProvisioningTemplates == nil {
		cfg.ProvisioningTemplates = []ProvisioningTemplate{{Name: "FleetTemplate", Body: []byte(fleetTemplate)}}
	}
	return leafWorld(t, cfg, claimPolicy)
}

// reply decodes the one reply of a request.
func oneReply(t *testing.T, got []msg, topic string) map[string]any {
	t.Helper()
	if len(got) != 1 || got[0].Topic != topic {
		t.Fatalf("replies %s, want one on %s", show(got), topic)
	}
	var m map[string]any
	if err := json.Unmarshal(got[0].bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// provisioned is a certificate and key handed out by the service.
type provisioned struct {
	id, certPEM, keyPEM, token string
}

func createKeys(t *testing.T, c *shadowClient) provisioned {
	t.Helper()
	r := oneReply(t, c.request("$aws/certificates/create/json", []byte(`{}`)), "$aws/certificates/create/json/accepted")
	p := provisioned{id: str(r["certificateId"]), certPEM: str(r["certificatePem"]), keyPEM: str(r["privateKey"]), token: str(r["certificateOwnershipToken"])}
	if !isCertID(p.id) || p.token == "" || !strings.Contains(p.keyPEM, "RSA PRIVATE KEY") {
		t.Fatalf("CreateKeysAndCertificate accepted: %v", r)
	}
	return p
}

func str(v any) string { s, _ := v.(string); return s }

func (p provisioned) tlsCert(t *testing.T) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair([]byte(p.certPEM), []byte(p.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectCert connects to the mutual TLS listener with a certificate and
// sends CONNECT; err is the handshake's refusal (with TLS 1.3 seen at the
// first read).
func (w *world) connectCert(t *testing.T, cert tls.Certificate, id string) (*client, *packets.Connack, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", w.addr("mqtts"), &tls.Config{RootCAs: w.roots, ServerName: "localhost", Certificates: []tls.Certificate{cert}})
	if err != nil {
		return nil, nil, err
	}
	c := newClient(t, conn)
	cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: id, CleanStart: true, KeepAlive: 60}
	if _, err := cp.WriteTo(conn); err != nil {
		return nil, nil, err
	}
	p, err := c.next()
	if err != nil {
		return nil, nil, err
	}
	ack, ok := p.Content.(*packets.Connack)
	if !ok {
		t.Fatalf("got %s, want CONNACK", p)
	}
	return c, ack, nil
}

func TestProvisionByClaim(t *testing.T) {
	claim, w := provWorld(t, Config{Verbose: true})
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	p := createKeys(t, c)

	// PENDING_ACTIVATION: refused at the handshake.
	if _, _, err := w.connectCert(t, p.tlsCert(t), "dev-42"); err == nil {
		t.Fatal("a certificate not yet registered connected")
	}
	w.logs.has(t, "TLS client certificate refused", "PENDING_ACTIVATION")

	body, _ := json.Marshal(map[string]any{"certificateOwnershipToken": p.token, "parameters": map[string]string{"SerialNumber": "42"}})
	r := oneReply(t, c.request("$aws/provisioning-templates/FleetTemplate/provision/json", body), "$aws/provisioning-templates/FleetTemplate/provision/json/accepted")
	if r["thingName"] != "dev-42" {
		t.Errorf("thingName %v, want dev-42", r["thingName"])
	}
	cfgWant := map[string]any{"FallbackUrl": "https://example.com/fallback", "Serial": "42"}
	if b1, _ := json.Marshal(r["deviceConfiguration"]); !jsonEqual(b1, mustJSON(cfgWant)) {
		t.Errorf("deviceConfiguration %s, want %s", b1, mustJSON(cfgWant))
	}

	dev, ack, err := w.connectCert(t, p.tlsCert(t), "dev-42")
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("provisioned certificate: %v %v", err, ack)
	}
	dc := &shadowClient{client: dev, name: "dev-42"}
	if code, _ := dc.publish("device/dev-42/telemetry", []byte("1")); code != 0 {
		t.Errorf("publish allowed by DevicePolicy: 0x%02X", code)
	}
	if code, _ := dc.publish("device/dev-43/telemetry", []byte("1")); code != 0x87 {
		t.Errorf("publish to another thing's topic: 0x%02X, want 0x87", code)
	}
	if _, ack, err := w.connectCert(t, p.tlsCert(t), "dev-43"); err != nil || ack.ReasonCode != 0x87 {
		t.Errorf("connect as another client ID: %v %v, want CONNACK 0x87", err, ack)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// csrPEM is a PEM CSR of a new P-256 key; broken spoils its signature.
func csrPEM(t *testing.T, broken bool) (string, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr-device", Organization: []string{"Acme"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if broken {
		der[len(der)-1] ^= 0xff
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

// normalizeProvisioning replaces what differs from run to run (IDs,
// certificates, keys, tokens) by placeholders, after checking it is there;
// it returns the token of an accepted reply.
func normalizeProvisioning(t *testing.T, m *msg) string {
	t.Helper()
	var body map[string]any
	if json.Unmarshal(m.bytes(), &body) != nil {
		return ""
	}
	tok := str(body["certificateOwnershipToken"])
	for k, check := range map[string]func(string) bool{
		"certificateId":             isCertID,
		"certificatePem":            func(s string) bool { return strings.HasPrefix(s, "-----BEGIN CERTIFICATE-----") },
		"privateKey":                func(s string) bool { return strings.HasPrefix(s, "-----BEGIN RSA PRIVATE KEY-----") },
		"certificateOwnershipToken": func(s string) bool { return s != "" },
	} {
		if v, ok := body[k]; ok {
			if !check(str(v)) {
				t.Errorf("%s: %s %v is not one", m.Topic, k, v)
			}
			body[k] = "<" + k + ">"
		}
	}
	m.Payload = mustJSON(body)
	return tok
}

// TestProvisioningGolden replays testdata/provisioning/*.in.json and
// compares every reply with *.golden.json (-update rewrites them). In
// requests, $TOKEN is the last ownership token handed out, $CSR a fresh
// CSR and $BADCSR one whose signature does not verify.
func TestProvisioningGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/provisioning/*.in.json")
	if len(ins) == 0 {
		t.Fatal("no testdata/provisioning/*.in.json")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			var reqs []msg
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &reqs); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			claim, w := provWorld(t, Config{})
			c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
			good, _ := csrPEM(t, false)
			bad, _ := csrPEM(t, true)
			token := ""
			var got []exchange
			for _, r := range reqs {
				b := r.bytes()
				for ph, v := range map[string]string{"$TOKEN": token, "$BADCSR": bad, "$CSR": good} {
					js, _ := json.Marshal(v)
					b = bytes.ReplaceAll(b, []byte(`"`+ph+`"`), js)
				}
				replies := c.request(r.Topic, b)
				for i := range replies {
					if tok := normalizeProvisioning(t, &replies[i]); tok != "" {
						token = tok
					}
				}
				got = append(got, exchange{Request: r, Replies: replies})
			}
			compareGolden(t, strings.TrimSuffix(in, ".in.json")+".golden.json", got)
		})
	}
}

// compareGolden compares exchanges with a golden file (-update writes it).
func compareGolden(t *testing.T, golden string, got []exchange) {
	t.Helper()
	if *updateGolden {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	var want []exchange
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d exchanges, golden has %d", len(got), len(want))
	}
	for i := range want {
		g, wn := got[i], want[i]
		if len(g.Replies) != len(wn.Replies) {
			t.Errorf("request %d (%s %s): %d replies, want %d:\n got %s", i+1, g.Request.Topic, g.Request.bytes(), len(g.Replies), len(wn.Replies), show(g.Replies))
			continue
		}
		for j := range wn.Replies {
			if g.Replies[j].Topic != wn.Replies[j].Topic || !jsonEqual(g.Replies[j].bytes(), wn.Replies[j].bytes()) {
				t.Errorf("request %d (%s %s) reply %d:\n got %s %s\nwant %s %s", i+1, g.Request.Topic, g.Request.bytes(), j+1,
					g.Replies[j].Topic, g.Replies[j].bytes(), wn.Replies[j].Topic, wn.Replies[j].bytes())
			}
		}
	}
}
