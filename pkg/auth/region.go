package auth

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/iotctl/iotctl/pkg/profile"
)

// Region is a resolved AWS region and where it came from.
type Region struct {
	Name string
	// Source says where Name came from, for notes and whoami: "--region",
	// "IOTCTL_REGION", "profile dev", "endpoint", "AWS_REGION",
	// "AWS_DEFAULT_REGION" or "AWS profile default in /home/u/.aws/config".
	Source string
}

// ResolveRegion is the one region rule of every command: --region (flag,
// IOTCTL_REGION or the iotctl profile), else the region of an AWS IoT
// endpoint (xxx-ats.iot.<region>.amazonaws.com), else AWS_REGION, else
// AWS_DEFAULT_REGION, else the region of the AWS shared-config profile
// (--aws-profile, else AWS_PROFILE, else default), read by aws-sdk-go-v2.
// A zero Region means none was found; a shared config that cannot be read
// counts as none (the credentials chain reports it when it matters).
func ResolveRegion(ctx context.Context, s *profile.Settings) Region {
	if s.Region != "" {
		return Region{Name: s.Region, Source: settingName(s, "region")}
	}
	if ep, err := profile.ParseEndpoint(s.Endpoint); err == nil {
		if r, ok := RegionFromEndpoint(ep.Host); ok {
			return Region{Name: r, Source: "endpoint"}
		}
	}
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := os.Getenv(v); r != "" {
			return Region{Name: r, Source: v}
		}
	}
	name, file, sc, err := sharedConfig(ctx, s.AWSProfile)
	if err == nil && sc.Region != "" {
		return Region{Name: sc.Region, Source: "AWS profile " + name + " in " + file}
	}
	return Region{}
}

// sharedConfigProfile is the AWS profile the SDK reads (awsProfile, else
// AWS_PROFILE, else AWS_DEFAULT_PROFILE, else default) and the config file
// it reads it from (AWS_CONFIG_FILE, else ~/.aws/config).
func sharedConfigProfile(awsProfile string) (string, []string) {
	name := awsProfile
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		if name == "" {
			name = os.Getenv(v)
		}
	}
	if name == "" {
		name = "default"
	}
	file := os.Getenv("AWS_CONFIG_FILE")
	if file == "" {
		file = config.DefaultSharedConfigFilename()
	}
	return name, []string{file}
}

// sharedConfig reads the AWS profile as the SDK would; it returns the
// profile's name and config file too.
func sharedConfig(ctx context.Context, awsProfile string) (string, string, config.SharedConfig, error) {
	name, files := sharedConfigProfile(awsProfile)
	sc, err := config.LoadSharedConfigProfile(ctx, name, func(o *config.LoadSharedConfigOptions) {
		o.ConfigFiles = files
		if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
			o.CredentialsFiles = []string{f}
		}
	})
	return name, files[0], sc, err
}
