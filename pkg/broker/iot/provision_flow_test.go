package iot

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// registerThing sends RegisterThing to FleetTemplate and returns the one
// reply's topic suffix (accepted or rejected) and body.
func registerThing(t *testing.T, c *shadowClient, template, token string, params map[string]string) (string, map[string]any) {
	t.Helper()
	topic := "$aws/provisioning-templates/" + template + "/provision/json"
	body, _ := json.Marshal(map[string]any{"certificateOwnershipToken": token, "parameters": params})
	got := c.request(topic, body)
	if len(got) != 1 || !strings.HasPrefix(got[0].Topic, topic+"/") {
		t.Fatalf("RegisterThing: replies %s", show(got))
	}
	var m map[string]any
	json.Unmarshal(got[0].bytes(), &m)
	return strings.TrimPrefix(got[0].Topic, topic+"/"), m
}

// TestProvisionFromCSR: the key never leaves the device; the CSR's
// subject is kept and offered to the template.
func TestProvisionFromCSR(t *testing.T) {
	tmpl := strings.Replace(fleetTemplate, `{"Ref": "SerialNumber"}]]}`, `{"Ref": "AWS::IoT::Certificate::CommonName"}]]}`, 1)
	claim, w := provWorld(t, Config{ProvisioningTemplates: []ProvisioningTemplate{{Name: "FleetTemplate", Body: []byte(tmpl)}}})
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	csr, key := csrPEM(t, false)
	body, _ := json.Marshal(map[string]string{"certificateSigningRequest": csr})
	r := oneReply(t, c.request("$aws/certificates/create-from-csr/json", body), "$aws/certificates/create-from-csr/json/accepted")
	if _, ok := r["privateKey"]; ok {
		t.Error("CreateCertificateFromCsr handed out a private key")
	}
	b, _ := pem.Decode([]byte(str(r["certificatePem"])))
	if b == nil {
		t.Fatalf("certificatePem %v", r["certificatePem"])
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil || CertificateID(cert.Raw) != str(r["certificateId"]) || cert.Subject.CommonName != "csr-device" {
		t.Fatalf("certificate %v (%v), want ID %v and CN csr-device", cert.Subject, err, r["certificateId"])
	}
	if kind, m := registerThing(t, c, "FleetTemplate", str(r["certificateOwnershipToken"]), map[string]string{"SerialNumber": "1"}); kind != "accepted" || m["thingName"] != "dev-csr-device" {
		t.Fatalf("RegisterThing %s %v, want thing dev-csr-device", kind, m)
	}
	tc := tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
	if _, ack, err := w.connectCert(t, tc, "dev-csr-device"); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("connect with the CSR's key: %v %v", err, ack)
	}
}

// TestProvisioningRepliesStayOnTheConnection: two devices share a claim
// certificate; neither sees the other's key or answers.
func TestProvisioningRepliesStayOnTheConnection(t *testing.T) {
	claim, w := provWorld(t, Config{})
	a := w.shadowClient(t, claim, "claim-a", provisioningFilters...)
	b := w.shadowClient(t, claim, "claim-b", provisioningFilters...)
	p := createKeys(t, a)
	registerThing(t, a, "FleetTemplate", p.token, map[string]string{"SerialNumber": "1"})
	registerThing(t, a, "NoSuchTemplate", p.token, nil)
	// b's own exchange comes after a's: anything of a's would be first.
	if got := b.untilMarker(nil); len(got) != 0 {
		t.Errorf("another connection got %s", show(got))
	}
	// A client publishing on a reply topic reaches nobody.
	if code, _ := b.publish("$aws/certificates/create/json/accepted", []byte(`{"certificateId":"spoof"}`)); code != 0 {
		t.Fatalf("publish: 0x%02X", code)
	}
	if got := a.untilMarker(nil); len(got) != 0 {
		t.Errorf("a spoofed reply was delivered: %s", show(got))
	}
}

// clock is a settable Config.Now.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time           { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration)  { c.off.Add(int64(d)) }
func (c *clock) config(cfg Config) Config { cfg.Now = c.now; return cfg }

func TestOwnershipToken(t *testing.T) {
	var clk clock
	claim, w := provWorld(t, clk.config(Config{}))
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	p := createKeys(t, c)

	other, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	unknownID := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name, token, message string
	}{
		{"foreign", other.prov.ca.token(p.id, now), "Certificate ownership token is not valid."},
		{"tampered", p.token[:len(p.token)-2] + "AA", "Certificate ownership token is not valid."},
		{"not a token", "abc", "Certificate ownership token is not valid."},
		{"unknown certificate", w.e.prov.ca.token(unknownID, now), "Certificate ownership token is not valid."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kind, m := registerThing(t, c, "FleetTemplate", tt.token, map[string]string{"SerialNumber": "1"})
			if kind != "rejected" || m["statusCode"] != 400.0 || m["errorCode"] != "InvalidCertificateOwnershipToken" || m["errorMessage"] != tt.message {
				t.Errorf("%s %v, want 400 InvalidCertificateOwnershipToken %q", kind, m, tt.message)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		clk.advance(ownershipTokenTTL + time.Minute)
		defer clk.advance(-ownershipTokenTTL - time.Minute)
		kind, m := registerThing(t, c, "FleetTemplate", p.token, map[string]string{"SerialNumber": "1"})
		if kind != "rejected" || m["errorMessage"] != "Certificate ownership token has expired." {
			t.Errorf("%s %v, want the token expired", kind, m)
		}
	})
	if kind, m := registerThing(t, c, "FleetTemplate", p.token, map[string]string{"SerialNumber": "1"}); kind != "accepted" {
		t.Errorf("the valid token: %s %v", kind, m)
	}
}

// TestProvisioningHook: the hook sees IoT Core's event; it may override
// parameters, deny, or fail (denied too).
func TestProvisioningHook(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test hooks are sh command lines")
	}
	dir := t.TempDir()
	hook := func(name, answer string) ProvisioningTemplate {
		return ProvisioningTemplate{Name: name, Body: []byte(fleetTemplate),
			Hook: fmt.Sprintf("cat > '%s'; %s", filepath.Join(dir, name+".json"), answer)}
	}
	claim, w := provWorld(t, Config{ProvisioningTemplates: []ProvisioningTemplate{
		hook("Override", `echo '{"allowProvisioning": true, "parameterOverrides": {"SerialNumber": "99"}}'`),
		hook("Deny", `echo '{"allowProvisioning": false}'`),
		hook("Fail", `echo broken >&2; exit 3`),
		hook("Garbage", `echo not json`),
	}})
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	p := createKeys(t, c)
	for _, name := range []string{"Deny", "Fail", "Garbage"} {
		kind, m := registerThing(t, c, name, p.token, map[string]string{"SerialNumber": "1"})
		if kind != "rejected" || m["statusCode"] != 403.0 || m["errorCode"] != "AccessDenied" {
			t.Errorf("%s: %s %v, want 403 AccessDenied", name, kind, m)
		}
	}
	w.logs.has(t, "pre-provisioning hook of Deny", "allowProvisioning false")
	w.logs.has(t, "pre-provisioning hook of Fail", "broken")
	if _, _, err := w.connectCert(t, p.tlsCert(t), "dev-1"); err == nil {
		t.Error("a denied certificate connected")
	}

	kind, m := registerThing(t, c, "Override", p.token, map[string]string{"SerialNumber": "1"})
	if kind != "accepted" || m["thingName"] != "dev-99" {
		t.Fatalf("%s %v, want thing dev-99", kind, m)
	}
	data, err := os.ReadFile(filepath.Join(dir, "Override.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev ProvisioningHookEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	want := ProvisioningHookEvent{
		ClaimCertificateID: claim.ID(), CertificateID: p.id, CertificatePem: p.certPEM,
		TemplateARN: "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/Override",
		ClientID:    "claim-1", Parameters: map[string]string{"SerialNumber": "1"},
	}
	if fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Errorf("hook event\n got %+v\nwant %+v", ev, want)
	}
}

// TestProvisioningPersists: with a state directory, the CA, the
// certificate, the thing and the policy survive a restart.
func TestProvisioningPersists(t *testing.T) {
	state := t.TempDir()
	claim, w := provWorld(t, Config{StateDir: state})
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	p := createKeys(t, c)
	pending := createKeys(t, c) // never registered
	if kind, m := registerThing(t, c, "FleetTemplate", p.token, map[string]string{"SerialNumber": "5"}); kind != "accepted" {
		t.Fatalf("RegisterThing %s %v", kind, m)
	}
	w.b.Close()

	claim2, w2 := provWorld(t, Config{StateDir: state})
	dev, ack, err := w2.connectCert(t, p.tlsCert(t), "dev-5")
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("provisioned certificate after a restart: %v %v", err, ack)
	}
	dc := &shadowClient{client: dev, name: "dev-5"}
	if code, _ := dc.publish("device/dev-5/x", []byte("1")); code != 0 {
		t.Errorf("publish allowed by the attached policy: 0x%02X", code)
	}
	if th, ok := w2.e.thingFor(PrefixCert+p.id, "dev-5"); !ok || th.Attributes["serial"] != "5" || th.Attributes["model"] != "m1" {
		t.Errorf("thing after a restart: %+v %v", th, ok)
	}
	if _, _, err := w2.connectCert(t, pending.tlsCert(t), "dev-6"); err == nil {
		t.Error("a pending certificate connected after a restart")
	}
	// The pending certificate's token is still good within its hour.
	c2 := w2.shadowClient(t, claim2, "claim-1", provisioningFilters...)
	if kind, m := registerThing(t, c2, "FleetTemplate", pending.token, map[string]string{"SerialNumber": "6"}); kind != "accepted" {
		t.Fatalf("RegisterThing after a restart: %s %v", kind, m)
	}
	if _, ack, err := w2.connectCert(t, pending.tlsCert(t), "dev-6"); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("certificate registered after a restart: %v %v", err, ack)
	}
	if _, err := os.Stat(filepath.Join(state, "provisioning", "ca-key.pem")); err != nil {
		t.Error(err)
	}
}

// TestProvisionedInactive: a template that leaves the certificate
// INACTIVE provisions a certificate that cannot connect.
func TestProvisionedInactive(t *testing.T) {
	tmpl := strings.Replace(fleetTemplate, `"Status": "Active"`, `"Status": "INACTIVE"`, 1)
	claim, w := provWorld(t, Config{ProvisioningTemplates: []ProvisioningTemplate{{Name: "FleetTemplate", Body: []byte(tmpl)}}})
	c := w.shadowClient(t, claim, "claim-1", provisioningFilters...)
	p := createKeys(t, c)
	if kind, m := registerThing(t, c, "FleetTemplate", p.token, map[string]string{"SerialNumber": "3"}); kind != "accepted" {
		t.Fatalf("RegisterThing %s %v", kind, m)
	}
	if _, _, err := w.connectCert(t, p.tlsCert(t), "dev-3"); err == nil {
		t.Error("an INACTIVE certificate connected")
	}
	w.logs.has(t, "TLS client certificate refused", "certificate is INACTIVE")
}

// TestProvisionConcurrently: devices sharing the claim certificate
// provision at once; each gets its own certificate and thing, and only its
// own answers.
func TestProvisionConcurrently(t *testing.T) {
	claim, w := provWorld(t, Config{})
	const n = 6
	clients := make([]*shadowClient, n)
	for i := range n {
		clients[i] = w.shadowClient(t, claim, fmt.Sprintf("claim-%d", i), provisioningFilters...)
	}
	errs := make(chan error, n)
	ids := make(chan string, n)
	for i := range n {
		go func() {
			c := clients[i]
			// The helpers' Fatalf ends this goroutine: the deferred send
			// still reports it.
			err := fmt.Errorf("client %d: a read failed", i)
			defer func() { errs <- err }()
			code, got := c.publish("$aws/certificates/create/json", []byte(`{}`))
			got = c.untilMarker(got)
			if code != 0 || len(got) != 1 || got[0].Topic != "$aws/certificates/create/json/accepted" {
				err = fmt.Errorf("client %d: create: 0x%02X %s", i, code, show(got))
				return
			}
			var keys map[string]any
			json.Unmarshal(got[0].bytes(), &keys)
			body, _ := json.Marshal(map[string]any{"certificateOwnershipToken": keys["certificateOwnershipToken"], "parameters": map[string]string{"SerialNumber": fmt.Sprint(i)}})
			topic := "$aws/provisioning-templates/FleetTemplate/provision/json"
			code, got = c.publish(topic, body)
			got = c.untilMarker(got)
			want := fmt.Sprintf(`{"deviceConfiguration":{"FallbackUrl":"https://example.com/fallback","Serial":"%d"},"thingName":"dev-%d"}`, i, i)
			if code != 0 || len(got) != 1 || got[0].Topic != topic+"/accepted" || !jsonEqual(got[0].bytes(), []byte(want)) {
				err = fmt.Errorf("client %d: register: 0x%02X %s", i, code, show(got))
				return
			}
			ids <- str(keys["certificateId"])
			err = nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("certificate %s handed out twice", id)
		}
		seen[id] = true
		if st := w.e.prov.status(id); st != statusActive {
			t.Errorf("certificate %s is %s", id, st)
		}
	}
}

// TestProvisioningCBOR: the …/cbor topics answer the same documents in
// CBOR.
func TestProvisioningCBOR(t *testing.T) {
	claim, w := provWorld(t, Config{})
	c := w.shadowClient(t, claim, "claim-1", "$aws/certificates/create/cbor/+", "$aws/provisioning-templates/+/provision/cbor/+", markerTopic)
	cborReply := func(topic string, body any) (string, map[string]any) {
		t.Helper()
		req, err := cborEncode(body)
		if err != nil {
			t.Fatal(err)
		}
		got := c.request(topic, req)
		if len(got) != 1 {
			t.Fatalf("replies %s", show(got))
		}
		js, err := cborToJSON(got[0].bytes())
		if err != nil {
			t.Fatalf("reply %q is not CBOR: %v", got[0].bytes(), err)
		}
		var m map[string]any
		json.Unmarshal(js, &m)
		return got[0].Topic, m
	}
	topic, keys := cborReply("$aws/certificates/create/cbor", map[string]any{})
	if topic != "$aws/certificates/create/cbor/accepted" || !isCertID(str(keys["certificateId"])) || str(keys["certificateOwnershipToken"]) == "" {
		t.Fatalf("%s %v", topic, keys)
	}
	reg := "$aws/provisioning-templates/FleetTemplate/provision/cbor"
	topic, m := cborReply(reg, map[string]any{"certificateOwnershipToken": keys["certificateOwnershipToken"], "parameters": map[string]any{"SerialNumber": "c1"}})
	if topic != reg+"/accepted" || m["thingName"] != "dev-c1" {
		t.Errorf("%s %v, want thing dev-c1", topic, m)
	}
	topic, m = cborReply(reg, map[string]any{"parameters": map[string]any{"SerialNumber": "c1"}})
	if topic != reg+"/rejected" || m["statusCode"] != 400.0 || m["errorCode"] != "InvalidCertificateOwnershipToken" {
		t.Errorf("%s %v, want 400 InvalidCertificateOwnershipToken", topic, m)
	}
	if got := c.request(reg, []byte{0xbf}); len(got) != 1 || got[0].Topic != reg+"/rejected" { // indefinite map: not read
		t.Errorf("replies %s", show(got))
	}
}

func TestCBORCodec(t *testing.T) {
	for _, tt := range []struct {
		hex, json string
	}{
		{"a0", `{}`},
		{"a1616101", `{"a":1}`},
		{"a2616120616282f5f6", `{"a":-1,"b":[true,null]}`},
		{"1903e8", `1000`},
		{"3903e7", `-1000`},
		{"f93c00", `1`},
		{"fa3fc00000", `1.5`},
		{"fb400921f9f01b866e", `3.14159`},
		{"c074323031332d30332d32315432303a30343a30305a", `"2013-03-21T20:04:00Z"`},
		{"4401020304", `"\u0001\u0002\u0003\u0004"`},
	} {
		b, _ := hex.DecodeString(tt.hex)
		got, err := cborToJSON(b)
		if err != nil || !jsonEqual(got, []byte(tt.json)) {
			t.Errorf("%s: %s %v, want %s", tt.hex, got, err, tt.json)
		}
	}
	for _, bad := range []string{"", "bf", "a1", "a10101", "5f", "1c", "62ff", "a16161"} {
		b, _ := hex.DecodeString(bad)
		if got, err := cborToJSON(b); err == nil {
			t.Errorf("%q: %s, want an error", bad, got)
		}
	}
	deep := strings.Repeat("81", cborMaxDepth+2) + "01"
	b, _ := hex.DecodeString(deep)
	if _, err := cborToJSON(b); err == nil {
		t.Error("nesting past the limit decoded")
	}
	body := map[string]any{"statusCode": 400, "errorCode": "X", "n": json.Number("70000"), "f": 0.5, "l": []any{"a", false, nil}, "big": int64(1) << 40, "neg": -300}
	enc, err := cborEncode(body)
	if err != nil {
		t.Fatal(err)
	}
	js, err := cborToJSON(enc)
	if err != nil || !jsonEqual(js, mustJSON(body)) {
		t.Errorf("round trip %s %v, want %s", js, err, mustJSON(body))
	}
}

// FuzzCBORToJSON: any payload is decoded or refused, never a panic, and
// what is decoded is JSON.
func FuzzCBORToJSON(f *testing.F) {
	for _, s := range []string{"a0", "a1616101", "a2616120616282f5f6", "f93c00", "c074323031332d30332d32315432303a30343a30305a", "9b00000000ffffffff"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		js, err := cborToJSON(b)
		if err == nil && !json.Valid(js) {
			t.Errorf("%x decoded to %q", b, js)
		}
	})
}
