package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// TestResolveRegion checks the precedence: the region setting, the
// endpoint's, AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's region.
func TestResolveRegion(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(cfgFile, []byte("[default]\nregion = ap-south-1\n\n[profile work]\nregion = sa-east-1\n\n[profile noregion]\noutput = json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const iotEndpoint = "a1b2-ats.iot.eu-central-1.amazonaws.com"
	regionFlag := []profile.Entry{{Name: "region", Source: profile.FromFlag}}
	regionEnv := []profile.Entry{{Name: "region", Source: profile.FromEnv}}
	regionProfile := []profile.Entry{{Name: "region", Source: profile.FromProfile}}
	tests := []struct {
		name       string
		settings   profile.Settings
		env        map[string]string
		configFile string
		want       Region
	}{
		{"flag wins over all", profile.Settings{Region: "us-west-2", Endpoint: iotEndpoint, Entries: regionFlag}, map[string]string{"AWS_REGION": "eu-west-1"}, cfgFile, Region{"us-west-2", "--region"}},
		{"IOTCTL_REGION", profile.Settings{Region: "us-west-2", Entries: regionEnv}, map[string]string{"AWS_REGION": "eu-west-1"}, cfgFile, Region{"us-west-2", "IOTCTL_REGION"}},
		{"iotctl profile", profile.Settings{Region: "us-west-2", Profile: "dev", Entries: regionProfile}, nil, cfgFile, Region{"us-west-2", "region in profile dev"}},
		{"endpoint before AWS_REGION", profile.Settings{Endpoint: iotEndpoint}, map[string]string{"AWS_REGION": "eu-west-1"}, cfgFile, Region{"eu-central-1", "endpoint"}},
		{"AWS_REGION", profile.Settings{Endpoint: "localhost:8443"}, map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, cfgFile, Region{"eu-west-1", "AWS_REGION"}},
		{"AWS_DEFAULT_REGION", profile.Settings{Endpoint: "localhost"}, map[string]string{"AWS_DEFAULT_REGION": "eu-west-2"}, cfgFile, Region{"eu-west-2", "AWS_DEFAULT_REGION"}},
		{"default AWS profile", profile.Settings{Endpoint: "localhost"}, nil, cfgFile, Region{"ap-south-1", "AWS profile default in " + cfgFile}},
		{"AWS_PROFILE", profile.Settings{Endpoint: "localhost"}, map[string]string{"AWS_PROFILE": "work"}, cfgFile, Region{"sa-east-1", "AWS profile work in " + cfgFile}},
		{"--aws-profile over AWS_PROFILE", profile.Settings{Endpoint: "localhost", AWSProfile: "work"}, map[string]string{"AWS_PROFILE": "default"}, cfgFile, Region{"sa-east-1", "AWS profile work in " + cfgFile}},
		{"AWS profile without a region", profile.Settings{Endpoint: "localhost", AWSProfile: "noregion"}, nil, cfgFile, Region{}},
		{"AWS profile that does not exist", profile.Settings{Endpoint: "localhost", AWSProfile: "nosuch"}, nil, cfgFile, Region{}},
		{"no config file", profile.Settings{Endpoint: "localhost"}, nil, filepath.Join(t.TempDir(), "missing"), Region{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
				t.Setenv(v, tt.env[v])
			}
			t.Setenv("AWS_CONFIG_FILE", tt.configFile)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
			if got := ResolveRegion(context.Background(), &tt.settings); got != tt.want {
				t.Errorf("ResolveRegion = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// noAWSRegion leaves the region to the settings: no AWS_* region or
// profile variables, no shared config file.
func noAWSRegion(t *testing.T) {
	t.Helper()
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
}

// TestSigV4RegionFromEnvironment: on an endpoint that names no region
// (localhost:8443, an emulator), AWS_REGION signs (issue 13, item 3), and
// whoami learns where it came from.
func TestSigV4RegionFromEnvironment(t *testing.T) {
	noAWSRegion(t)
	t.Setenv("AWS_REGION", "eu-north-1")
	p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"wss://localhost:8443"}}))
	if err != nil {
		t.Fatal(err)
	}
	id := p.ws.describe("sigv4")
	if id.SigningRegion != "eu-north-1" || id.SigningRegionSource != "AWS_REGION" {
		t.Errorf("signing region %q from %q, want eu-north-1 from AWS_REGION", id.SigningRegion, id.SigningRegionSource)
	}
	d := p.ws.dial(aws.Credentials{AccessKeyID: "AKIDREGION", SecretAccessKey: "secret"})
	_, u := presignedKey(t, d, Target{Host: "localhost", Port: 8443})
	if !strings.Contains(u.Query().Get("X-Amz-Credential"), "/eu-north-1/iotdevicegateway/") {
		t.Errorf("credential scope %s, want eu-north-1", u.Query().Get("X-Amz-Credential"))
	}
}

// TestSigV4SSONotLoggedIn: an SSO profile (sso_session) with no cached
// token says what the AWS CLI says (issue 13, item 4), exit 2.
func TestSigV4SSONotLoggedIn(t *testing.T) {
	for _, tc := range []struct{ name, config string }{
		{"sso_session", "[profile ssouser]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\nregion = eu-west-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"},
		{"legacy sso_start_url", "[profile ssouser]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 123456789012\nsso_role_name = Dev\nregion = eu-west-1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeAWSFiles(t) // an empty HOME: no SSO token cache
			cfg := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_CONFIG_FILE", cfg)
			p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.eu-west-1.amazonaws.com"}, "aws-profile": {"ssouser"}}))
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []struct {
				name string
				fn   func() error
			}{
				{"Prepare", func() error { _, err := p.Prepare(context.Background()); return err }},
				{"Describe", func() error { _, err := p.Describe(context.Background(), DescribeOptions{}); return err }},
			} {
				err := call.fn()
				wantKind(t, err, errs.Usage)
				if !strings.HasSuffix(err.Error(), ": run aws sso login --profile ssouser") || strings.Contains(err.Error(), "set AWS_PROFILE") {
					t.Errorf("%s: %v: want it to end in 'run aws sso login --profile ssouser'", call.name, err)
				}
			}
		})
	}
}
