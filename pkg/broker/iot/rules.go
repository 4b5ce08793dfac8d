package iot

import (
	"strings"
	"sync"
	"time"

	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/mochi-mqtt/server/v2/packets"
)

// refusal is a reason code with the reason string sent with it and the
// longer explanation logged.
type refusal struct {
	code packets.Code
	why  string // for the log
}

// reservedPublish are the $aws topics clients may publish to (with a
// policy that allows it): shadows, jobs, Device Defender, streams, Basic
// Ingest rules, fleet provisioning.
var reservedPublish = []string{
	"$aws/rules/",
	"$aws/certificates/create/",
	"$aws/certificates/create-from-csr/",
	"$aws/provisioning-templates/",
}

var reservedThingPublish = []string{"shadow", "jobs", "defender", "streams"}

func publishableReserved(topic string) bool {
	for _, p := range reservedPublish {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	rest, ok := strings.CutPrefix(topic, "$aws/things/")
	if !ok {
		return false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[0] == "" {
		return false
	}
	for _, k := range reservedThingPublish {
		if parts[1] == k {
			return true
		}
	}
	return false
}

// checkPublishTopic applies IoT Core's rules on a topic to publish to.
func checkPublishTopic(topic string, retain bool) *refusal {
	if strings.HasPrefix(topic, "$") {
		if !publishableReserved(topic) {
			return &refusal{packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: "reserved topic"},
				"topic " + topic + " is reserved: IoT Core lets clients publish only to $aws/things/<thing>/shadow|jobs|defender|streams/…, $aws/rules/<rule>/…, $aws/certificates/create… and $aws/provisioning-templates/…"}
		}
		if retain {
			return &refusal{packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: "no retained messages on reserved topics"},
				"retained publish to reserved topic " + topic + ": IoT Core retains no messages on $ topics"}
		}
	}
	if err := limits.AWSIoT.Topic(topic); err != nil {
		return &refusal{packets.Code{Code: packets.ErrTopicNameInvalid.Code, Reason: "topic over IoT Core limits"}, err.Error()}
	}
	return nil
}

// checkFilter applies IoT Core's rules on a subscription filter.
func checkFilter(filter string) *refusal {
	f, err := limits.ParseFilter(filter)
	if err == nil && strings.HasPrefix(f.Filter, "$") && !strings.HasPrefix(f.Filter, "$aws/") {
		return &refusal{packets.ErrNotAuthorized, "filter " + filter + " is reserved: IoT Core reserves $ topics; only $aws/… may be subscribed to"}
	}
	if err := limits.AWSIoT.Filter(filter); err != nil {
		return &refusal{packets.ErrTopicFilterInvalid, err.Error()}
	}
	return nil
}

// bucket is a token bucket: rate tokens a second, as many at once.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate int, now time.Time) *bucket {
	return &bucket{rate: float64(rate), tokens: float64(rate), last: now}
}

// take spends a token, reporting false when none is left.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.rate, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
