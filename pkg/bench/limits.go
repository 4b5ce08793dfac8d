package bench

import (
	"fmt"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// AWS IoT Core's per-connection throughput quotas (docs/AWS-IOT.md).
const (
	awsPublishesPerSecond = 100
	awsBytesPerSecond     = 512 * 1024
)

// CheckLimits compares the run with the endpoint's rules: an error for what
// the broker cannot do (QoS above its maximum, too many filters in one go is
// handled by batching), warnings for what it will throttle or refuse.
func (c *Config) CheckLimits(r limits.Rules) ([]string, error) {
	if c.Mode != Conn && r.MaxQoS > 0 && int(c.QoS) > r.MaxQoS {
		return nil, errs.Usagef("--qos %d: %s supports QoS 0 and 1 only (--limits %s)", c.QoS, r.Name, r.Name)
	}
	if r.Name != limits.AWSIoT.Name {
		return nil, nil
	}
	var warns []string
	if c.Mode == Pub || c.Mode == Roundtrip {
		if c.Rate == 0 {
			warns = append(warns, fmt.Sprintf("no --rate: AWS IoT Core throttles a connection beyond %d publishes/s and 512 KiB/s; set --rate to at most %d (%d per publisher)", awsPublishesPerSecond, awsPublishesPerSecond*c.Publishers, awsPublishesPerSecond))
		} else {
			per := c.Rate / float64(c.Publishers)
			if per > awsPublishesPerSecond {
				warns = append(warns, fmt.Sprintf("%.0f publishes/s per connection exceeds AWS IoT Core's %d per connection: use more --clients or a lower --rate", per, awsPublishesPerSecond))
			}
			if bytes := per * float64(c.Size); bytes > awsBytesPerSecond {
				warns = append(warns, fmt.Sprintf("%.0f KiB/s per connection exceeds AWS IoT Core's 512 KiB/s per connection: use more --clients, a lower --rate or a smaller --size", bytes/1024))
			}
		}
	}
	if c.Mode == Roundtrip && c.Rate > 0 {
		in := c.Rate
		if c.Shared != "" {
			in /= float64(c.Subscribers)
		}
		if in > awsPublishesPerSecond {
			warns = append(warns, fmt.Sprintf("each subscriber would receive %.0f messages/s: AWS IoT Core allows %d per connection: use --shared with more --subscribers or a lower --rate", in, awsPublishesPerSecond))
		}
	}
	if c.Mode == Roundtrip || c.Mode == Sub {
		filters, err := c.Filters()
		if err != nil {
			return nil, err
		}
		if max := r.MaxSubscriptionsPerConnection; max > 0 && len(filters) > max {
			warns = append(warns, fmt.Sprintf("each subscriber needs %d subscriptions: AWS IoT Core allows %d per connection: use fewer --clients per shard or a topic with {i} as a whole level", len(filters), max))
		}
	}
	return warns, nil
}
