package iot

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/broker"
)

// TestProvisioningSDK drives the fleet provisioning service with clients
// that are not ours: the official AWS IoT Device SDK for JavaScript v2's
// IotIdentityClientv2 (MQTT 5) and IotIdentityClient (MQTT 3.1.1), running
// testdata/sdk/identity_sdk.js with a claim certificate; then a device
// connects with the certificate the SDK got from its CSR. It needs node
// and the SDKs (nodeSDK; .ci/run installs them):
//
//	mkdir -p /tmp/jssdk && cd /tmp/jssdk && npm install aws-iot-device-sdk-v2 aws-iot-device-sdk
//	IOTCTL_NODE_SDK=/tmp/jssdk/node_modules go test -run TestProvisioningSDK ./pkg/broker/iot/
func TestProvisioningSDK(t *testing.T) {
	node, modules := nodeSDK(t)
	claim, w := provWorld(t, Config{})
	dir := t.TempDir()
	certFile, keyFile := claim.Files(t, dir, "claim")
	caFile := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caFile, w.serverCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	csr, csrKey := csrPEM(t, false)
	csrFile := filepath.Join(dir, "device.csr")
	if err := os.WriteFile(csrFile, []byte(csr), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(w.addr(broker.MQTTS), ":")
	script, _ := filepath.Abs(filepath.Join("testdata", "sdk", "identity_sdk.js"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, "localhost", port, caFile, certFile, keyFile, csrFile, dir)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	t.Logf("SDK output:\n%s", out)
	if err != nil || !strings.Contains(string(out), "ALL OK") {
		t.Fatalf("SDK identity client: %v", err)
	}

	// The certificate issued for the SDK's CSR, registered by the v1 client.
	data, err := os.ReadFile(filepath.Join(dir, "csr-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("csr-cert.pem: no PEM")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		t.Fatal(err)
	}
	if _, ack, err := w.connectCert(t, tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: csrKey}, "dev-v1"); err != nil || ack.ReasonCode != 0 {
		t.Fatalf("the CSR's certificate after the SDK registered it: %v %v", err, ack)
	}
}
