package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// deviceTemplatePolicy is what FleetTemplate attaches: a device connects
// as its thing and uses device/<thing>/….
const deviceTemplatePolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/device/${iot:Connection.Thing.ThingName}/*"},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/device/${iot:Connection.Thing.ThingName}/*"}]}`

// fleetTemplate names the thing dev-<SerialNumber> (a required
// parameter) and attaches DevicePolicy.
const fleetTemplate = `{
 "Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
 "Resources": {
  "thing": {"Type": "AWS::IoT::Thing", "Properties": {
    "ThingName": {"Fn::Join": ["", ["dev-", {"Ref": "SerialNumber"}]]},
    "AttributePayload": {"serial": {"Ref": "SerialNumber"}}}},
  "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
  "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}}},
 "DeviceConfiguration": {"Serial": {"Ref": "SerialNumber"}}
}`

// provWorld is an emulator with FleetTemplate, Guarded (FleetTemplate
// behind a hook that denies) and a claim certificate whose policy is
// what `iotctl policy gen --provisioning` writes for each. It returns the
// claim's connection arguments.
func provWorld(t *testing.T) (*world, []string) {
	t.Helper()
	w := newWorld(t)
	claim, claimCert, claimKey := w.device(t, testpki.EC)
	var policies []iot.Policy
	for _, tmpl := range []string{"FleetTemplate", "Guarded"} {
		gen := run(t, nil, 0, "policy", "gen", "--provisioning", "--template", tmpl, "--account", "123456789012", "--region", "us-east-1")
		policies = append(policies, iot.Policy{Principal: iot.PrefixCert + claim.ID(), Doc: mustParse(t, gen.stdout.String())})
	}
	w.start(t, iot.Config{
		Policies:      policies,
		NamedPolicies: []iot.NamedPolicy{{Name: "DevicePolicy", Document: []byte(deviceTemplatePolicy)}},
		ProvisioningTemplates: []iot.ProvisioningTemplate{
			{Name: "FleetTemplate", Body: []byte(fleetTemplate)},
			{Name: "Guarded", Body: []byte(fleetTemplate), Hook: `echo '{"allowProvisioning": false}'`},
		},
	})
	return w, []string{"--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS), "--cert", claimCert, "--key", claimKey}
}

// provisionResult is provision's -o json document.
type provisionResult struct {
	ThingName           string         `json:"thing_name"`
	CertificateID       string         `json:"certificate_id"`
	CertificateFile     string         `json:"certificate_file"`
	KeyFile             string         `json:"key_file"`
	Key                 string         `json:"key"`
	Profile             string         `json:"profile"`
	DeviceConfiguration map[string]any `json:"device_configuration"`
}

func decodeProvision(t *testing.T, p *proc) provisionResult {
	t.Helper()
	var r provisionResult
	if err := json.Unmarshal([]byte(p.stdout.String()), &r); err != nil {
		t.Fatalf("provision -o json: %v\n%s", err, p.stdout.String())
	}
	return r
}

// checkFiles checks the certificate and key provision wrote: mode 0600,
// a matching pair whose certificate has the reported ID.
func checkFiles(t *testing.T, dir, id string) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, "certificate.pem.crt"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "private.pem.key"))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	if got := (&testpki.Leaf{DER: pair.Certificate[0]}).ID(); got != id {
		t.Errorf("certificate ID %s, reported %s", got, id)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, n := range []string{"certificate.pem.crt", "private.pem.key"} {
		if fi, _ := os.Stat(filepath.Join(dir, n)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", n, fi.Mode().Perm())
		}
	}
}

// TestProvisionByClaim is the offline flow: a claim certificate
// with the policy `policy gen --provisioning` writes provisions a device
// (key made here), --save-profile saves its identity, whoami shows the
// thing, and the template's policy authorises the device's publishes
// and no others. Then the other key paths, and files never replaced
// without --force.
func TestProvisionByClaim(t *testing.T) {
	w, claim := provWorld(t)
	home := []string{"IOTCTL_HOME=" + filepath.Join(t.TempDir(), "iotctl")}
	dir := t.TempDir()
	dev1 := filepath.Join(dir, "dev1")

	p := run(t, home, 0, append(claim, "provision", "--template", "FleetTemplate", "--param", "SerialNumber=0042",
		"--create-key", "--out", dev1, "--save-profile", "dev1", "-o", "json")...)
	res := decodeProvision(t, p)
	if res.ThingName != "dev-0042" || res.Key != "created" || res.Profile != "dev1" || res.DeviceConfiguration["Serial"] != "0042" {
		t.Errorf("provision: %+v", res)
	}
	checkFiles(t, dev1, res.CertificateID)

	who := run(t, home, 0, "--profile", "dev1", "whoami", "-o", "json")
	var rep struct {
		Profile  string                                 `json:"profile"`
		Settings []struct{ Name, Value, Source string } `json:"settings"`
		Identity struct {
			CertificateID string `json:"certificate_id"`
		} `json:"identity"`
		Connack map[string]any `json:"connack"`
	}
	if err := json.Unmarshal([]byte(who.stdout.String()), &rep); err != nil {
		t.Fatalf("whoami -o json: %v\n%s", err, who.stdout.String())
	}
	got := map[string]string{}
	for _, s := range rep.Settings {
		got[s.Name] = s.Value + " (" + s.Source + ")"
	}
	if rep.Profile != "dev1" || got["thing-name"] != "dev-0042 (profile)" || got["client-id"] != "dev-0042 (profile)" || got["cert"] != filepath.Join(dev1, "certificate.pem.crt")+" (profile)" {
		t.Errorf("whoami's profile settings: %v\n%s", got, who.stdout.String())
	}
	if !strings.Contains(who.stdout.String(), res.CertificateID) || rep.Connack == nil {
		t.Errorf("whoami does not show the new certificate %s connected:\n%s", res.CertificateID, who.stdout.String())
	}

	// The template's policy: device/<thing>/… and nothing else.
	run(t, home, 0, "--profile", "dev1", "pub", "-t", "device/dev-0042/telemetry", "-q", "1", "-m", "hi")
	run(t, home, 4, "--profile", "dev1", "pub", "-t", "device/dev-0043/telemetry", "-q", "1", "-m", "hi")

	t.Run("key from the service", func(t *testing.T) { // under IoT Core's client-side limits too
		out := filepath.Join(dir, "service")
		res := decodeProvision(t, run(t, home, 0, append(claim, "provision", "--template", "FleetTemplate", "--param", "SerialNumber=0043", "--out", out, "-o", "json", "--limits", "aws-iot")...))
		checkFiles(t, out, res.CertificateID)
		run(t, home, 0, "pub", "-t", "device/dev-0043/t", "-q", "1", "-m", "hi", "--client-id", "dev-0043",
			"--cert", filepath.Join(out, "certificate.pem.crt"), "--key", filepath.Join(out, "private.pem.key"),
			"--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS))
	})

	t.Run("your CSR", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		csrFile := testpki.Write(t, dir, "device.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
		keyFile := testpki.Write(t, dir, "device.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		out := filepath.Join(dir, "csr")
		p := run(t, home, 0, append(claim, "provision", "--template", "FleetTemplate", "--param", "SerialNumber=0044", "--csr", csrFile, "--out", out, "--save-profile", "dev3")...)
		if !strings.Contains(p.stdout.String(), "Thing name      dev-0044\n") || !strings.Contains(p.stderr.String(), "profile dev3 has no key") {
			t.Errorf("stdout %q\nstderr %q", p.stdout.String(), p.stderr.String())
		}
		if _, err := os.Stat(filepath.Join(out, "private.pem.key")); !os.IsNotExist(err) {
			t.Errorf("a key file was written with --csr: %v", err)
		}
		run(t, home, 0, "--profile", "dev3", "pub", "--key", keyFile, "-t", "device/dev-0044/t", "-q", "1", "-m", "hi")
	})

	t.Run("never replaced without --force", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(dev1, "private.pem.key"))
		p := run(t, home, 2, append(claim, "provision", "--template", "FleetTemplate", "--param", "SerialNumber=0045", "--out", dev1)...)
		if !strings.Contains(p.stderr.String(), "exists: give --force") {
			t.Errorf("stderr %q", p.stderr.String())
		}
		p = run(t, home, 2, append(claim, "provision", "--template", "FleetTemplate", "--param", "SerialNumber=0045", "--out", filepath.Join(dir, "fresh"), "--save-profile", "dev1")...)
		if !strings.Contains(p.stderr.String(), "--save-profile dev1: the profile exists") {
			t.Errorf("stderr %q", p.stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "fresh")); !os.IsNotExist(err) {
			t.Errorf("--out made before the refusal: %v", err)
		}
		if after, _ := os.ReadFile(filepath.Join(dev1, "private.pem.key")); string(after) != string(before) {
			t.Error("the key was replaced without --force")
		}
		res := decodeProvision(t, run(t, home, 0, append(claim, "provision", "--template", "FleetTemplate", "--param", "SerialNumber=0046",
			"--create-key", "--out", dev1, "--save-profile", "dev1", "--force", "-o", "json")...))
		checkFiles(t, dev1, res.CertificateID)
		run(t, home, 0, "--profile", "dev1", "pub", "-t", "device/dev-0046/t", "-q", "1", "-m", "hi")
	})
}

// TestProvisionRejected: the service's rejections (a missing template
// parameter, a template that does not exist, a hook that denies) are exit
// 4 naming statusCode, errorCode and errorMessage, and nothing is written.
func TestProvisionRejected(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the hook is a sh command")
	}
	_, claim := provWorld(t)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"missing parameter", []string{"--template", "FleetTemplate"}, "rejected: statusCode 400, errorCode InvalidParameters, errorMessage \"Missing value for parameter SerialNumber"},
		{"hook denies", []string{"--template", "Guarded", "--param", "SerialNumber=1"}, `rejected: statusCode 403, errorCode AccessDenied, errorMessage "Pre provisioning hook validation failed."`},
		{"template not allowed by the claim's policy", []string{"--template", "Other", "--param", "SerialNumber=1"}, "not authorized"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			p := run(t, nil, 4, append(claim, append([]string{"provision", "--out", out, "--create-key"}, tt.args...)...)...)
			if !strings.Contains(p.stderr.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", p.stderr.String(), tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("--out made after a rejection: %v", err)
			}
		})
	}
}
