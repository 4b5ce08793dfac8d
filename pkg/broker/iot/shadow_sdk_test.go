package iot

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/broker"
)

// TestShadowSDK drives the Device Shadow service with a client that is not
// ours: the official AWS IoT Device SDK for JavaScript v2 (IotShadowClientv2
// over MQTT 5 and IotShadowClient over MQTT 3.1.1, mutual TLS) and, when
// installed, the previous SDK's thingShadow (aws-iot-device-sdk), running
// testdata/sdk/shadow_sdk.js. It needs node and the SDKs (nodeSDK; .ci/run
// installs them):
//
//	mkdir -p /tmp/jssdk && cd /tmp/jssdk && npm install aws-iot-device-sdk-v2 aws-iot-device-sdk
//	IOTCTL_NODE_SDK=/tmp/jssdk/node_modules go test -run TestShadowSDK ./pkg/broker/iot/
func TestShadowSDK(t *testing.T) {
	runSDKScript(t, Config{}, "shadow_sdk.js")
}

// runSDKScript runs testdata/sdk/<script> with node against an emulator
// configured by cfg, with a device certificate allowed everything:
// node SCRIPT HOST PORT CA CERT KEY sdkthing. It skips without the SDK
// (IOTCTL_NODE_SDK).
func runSDKScript(t *testing.T, cfg Config, script string) {
	t.Helper()
	node, modules := nodeSDK(t)
	leaf, w := shadowWorld(t, cfg, allowAll)
	dir := t.TempDir()
	certFile, keyFile := leaf.Files(t, dir, "device")
	caFile := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caFile, w.serverCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(w.addr(broker.MQTTS), ":")
	path, _ := filepath.Abs(filepath.Join("testdata", "sdk", script))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path, "localhost", port, caFile, certFile, keyFile, "sdkthing")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	t.Logf("SDK output:\n%s", out)
	if err != nil || !strings.Contains(string(out), "ALL OK") {
		t.Fatalf("SDK script %s: %v", script, err)
	}
}
