package iot

import "testing"

// TestJobsSDK drives the Jobs service with the official AWS IoT Device
// SDK for JavaScript v2 (IotJobsClientv2 over MQTT 5 and IotJobsClient
// over MQTT 3.1.1, mutual TLS) and, when installed, the previous SDK's
// jobs client, running testdata/sdk/jobs_sdk.js. Like TestShadowSDK it
// needs node and the SDKs (nodeSDK; .ci/run installs them):
//
//	mkdir -p /tmp/jssdk && cd /tmp/jssdk && npm install aws-iot-device-sdk-v2 aws-iot-device-sdk
//	IOTCTL_NODE_SDK=/tmp/jssdk/node_modules go test -run TestJobsSDK ./pkg/broker/iot/
func TestJobsSDK(t *testing.T) {
	runSDKScript(t, Config{Jobs: []JobSeed{
		{ID: "sdk-a", Targets: []string{"sdkthing"}, Document: []byte(`{"step":"a"}`)},
		{ID: "sdk-b", Targets: []string{"sdkthing"}, Document: []byte(`{"step":"b"}`)},
		{ID: "sdk-c", Targets: []string{"sdkthing-v1"}, Document: []byte(`{"step":"c"}`)},
		{ID: "legacy-a", Targets: []string{"sdkthing-legacy"}, Document: []byte(`{"operation":"install"}`)},
		{ID: "legacy-b", Targets: []string{"sdkthing-legacy"}, Document: []byte(`{"operation":"reboot"}`)},
	}}, "jobs_sdk.js")
}
