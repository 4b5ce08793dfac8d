package iot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeSDK is node and the node_modules folder (IOTCTL_NODE_SDK) holding
// the AWS IoT Device SDKs for JavaScript (aws-iot-device-sdk-v2 and the
// previous aws-iot-device-sdk), which check the emulation's wire format.
// It skips without them, and fails under IOTCTL_REQUIRE_PEERS=1 (.ci/run
// installs them).
func nodeSDK(t *testing.T) (node, modules string) {
	t.Helper()
	modules = os.Getenv("IOTCTL_NODE_SDK")
	node, err := exec.LookPath("node")
	if modules == "" || err != nil {
		const why = "AWS IoT Device SDK for JavaScript v2 not set up: set IOTCTL_NODE_SDK to a node_modules folder holding aws-iot-device-sdk-v2 and aws-iot-device-sdk (npm install aws-iot-device-sdk-v2 aws-iot-device-sdk), with node on PATH"
		if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
			t.Fatal(why + "; IOTCTL_REQUIRE_PEERS=1: .ci/run must install them")
		}
		t.Skip(why)
	}
	for _, pkg := range []string{"aws-iot-device-sdk-v2", "aws-iot-device-sdk"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			t.Fatalf("IOTCTL_NODE_SDK=%s: %v", modules, err)
		}
	}
	return node, modules
}
