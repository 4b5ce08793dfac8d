package shared

import (
	"path/filepath"
	"testing"

	"github.com/iotctl/iotctl/pkg/profile"
)

// noAWSEnv leaves the region to the settings: no AWS_* variables and no
// shared config file.
func noAWSEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
}

func TestRegion(t *testing.T) {
	noAWSEnv(t)
	tests := []struct {
		region, endpoint, want string
	}{
		{"eu-west-1", "a1b2-ats.iot.us-east-1.amazonaws.com", "eu-west-1"},
		{"", "a1b2-ats.iot.us-east-1.amazonaws.com", "us-east-1"},
		{"", "mqtts://a1b2-ats.iot.ap-southeast-2.amazonaws.com:8883", "ap-southeast-2"},
		{"", "a1b2-ats.iot.cn-north-1.amazonaws.com.cn", "cn-north-1"},
		{"", "a1b2.iot-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"}, // as SigV4 signs
		{"", "localhost", ""},
		{"", "iot.example.com", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if got := Region(&profile.Settings{Region: tt.region, Endpoint: tt.endpoint}).Name; got != tt.want {
			t.Errorf("Region(%q, %q) = %q, want %q", tt.region, tt.endpoint, got, tt.want)
		}
	}
}

func TestValid(t *testing.T) {
	for _, r := range []string{"us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-4", "us-isob-east-1"} {
		if !ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = false", r)
		}
	}
	for _, r := range []string{"", "*", "us-east", "US-EAST-1", "us-east-1a"} {
		if ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = true", r)
		}
	}
	if !ValidAccount("123456789012") || ValidAccount("12345678901") || ValidAccount("12345678901a") {
		t.Error("ValidAccount")
	}
}
