// Package shared holds what policy gen and policy check share.
package shared

import (
	"context"

	"regexp"
	"sync"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
)

// DefaultRegion is used when no setting, endpoint, environment variable or
// AWS profile names one.
const DefaultRegion = "us-east-1"

// The patterns are compiled at first use, not at start-up.
var regionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })

// ValidRegion reports whether r looks like an AWS region (us-east-1).
func ValidRegion(r string) bool { return regionRE().MatchString(r) }

var accountRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })

// ValidAccount reports whether a is a 12-digit AWS account ID.
func ValidAccount(a string) bool { return accountRE().MatchString(a) }

// Region is the region of the ARNs: auth.ResolveRegion's rule, the one
// of every command (--region, the endpoint's, AWS_REGION,
// AWS_DEFAULT_REGION, the AWS profile's); zero when none says.
func Region(s *profile.Settings) auth.Region {
	return auth.ResolveRegion(context.Background(), s)
}

// Explicit reports whether the user gave the region as an iotctl setting
// (--region, IOTCTL_REGION, a profile): no note needed then.
func Explicit(r auth.Region, s *profile.Settings) bool {
	return r.Name != "" && r.Name == s.Region
}
