// Package shared holds what policy gen and policy check share.
package shared

import (
	"regexp"
	"sync"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
)

// DefaultRegion is used when neither --region nor an AWS IoT endpoint
// names one.
const DefaultRegion = "us-east-1"

// The patterns are compiled at first use, not at start-up.
var regionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })

// ValidRegion reports whether r looks like an AWS region (us-east-1).
func ValidRegion(r string) bool { return regionRE().MatchString(r) }

var accountRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })

// ValidAccount reports whether a is a 12-digit AWS account ID.
func ValidAccount(a string) bool { return accountRE().MatchString(a) }

// Region is the --region setting, else the region of an AWS IoT endpoint
// (xxx-ats.iot.<region>.amazonaws.com, iot-fips and .cn too; the same rule
// as SigV4 signing), else "".
func Region(s *profile.Settings) string {
	if s.Region != "" {
		return s.Region
	}
	ep, err := profile.ParseEndpoint(s.Endpoint)
	if err != nil {
		return ""
	}
	r, _ := auth.RegionFromEndpoint(ep.Host)
	return r
}
