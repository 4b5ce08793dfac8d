package iot

import "testing"

// TestJobsSDK drives the Jobs service with the official AWS IoT Device
// SDK for JavaScript v2 (IotJobsClientv2 over MQTT 5 and IotJobsClient
// over MQTT 3.1.1, mutual TLS), running testdata/sdk/jobs_sdk.js. Like
// TestShadowSDK it needs node and the SDK, which CI does not install:
//
//	mkdir -p /tmp/jssdk && cd /tmp/jssdk && npm install aws-iot-device-sdk-v2
//	IOTCTL_NODE_SDK=/tmp/jssdk/node_modules go test -run TestJobsSDK ./pkg/broker/iot/
func TestJobsSDK(t *testing.T) {
	runSDKScript(t, Config{Jobs: []JobSeed{
		{ID: "sdk-a", Targets: []string{"sdkthing"}, Document: []byte(`{"step":"a"}`)},
		{ID: "sdk-b", Targets: []string{"sdkthing"}, Document: []byte(`{"step":"b"}`)},
		{ID: "sdk-c", Targets: []string{"sdkthing-v1"}, Document: []byte(`{"step":"c"}`)},
	}}, "jobs_sdk.js")
}
