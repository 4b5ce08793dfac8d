// Package bench measures an MQTT5 broker: publish and receive rates,
// end-to-end and publish→ack latency, connection set-up, and delivery
// (lost, duplicated, out of order). Run drives clients through pkg/session;
// the Result is a value with a text report, JSON and a merge for shards.
package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/payload"
)

// Mode is what a run measures.
type Mode string

const (
	Roundtrip Mode = "roundtrip" // publishers and subscribers in this process
	Pub       Mode = "pub"       // publishers only
	Sub       Mode = "sub"       // subscribers only, for publishers elsewhere
	Conn      Mode = "conn"      // connection set-up only
)

// Defaults of the command's flags.
const (
	DefaultTopic = "iotctl/bench/{n}/{i}"
	DefaultSize  = 128
	DefaultCount = 10000
)

// Config is one run. Zero values: see each field.
type Config struct {
	Mode Mode
	// Publishers per process (conn mode: connections). Sub mode: how many
	// publishers to expect elsewhere (0: unknown).
	Publishers int
	// Subscribers per process (roundtrip, sub).
	Subscribers int
	// Topic is the topic pattern: {i} is the publisher's index across
	// shards, {n} the run ID.
	Topic string
	// Shared, when set, makes subscribers share $share/<Shared>/<filter>:
	// each message reaches one of them.
	Shared string
	QoS    byte
	// Size is the payload size in bytes, at least HeaderSize; not used
	// with Template.
	Size int
	// Template, when set, makes each payload the header followed by the
	// template's output (pub --template's: {{.Count}} is the header's
	// sequence number plus 1, {{.ClientID}} the publisher's, {{.Topic}} its topic).
	Template *payload.Template
	// TemplateText is Template's source, for the banner and the JSON.
	TemplateText string
	// TopicAlias: publishers use MQTT 5 topic aliases (session.Options.TopicAlias).
	TopicAlias bool
	// Rate is messages per second across all publishers of this process;
	// 0 publishes as fast as flow control allows (closed loop).
	Rate float64
	// Duration, when set, ends publishing after that long; otherwise each
	// publisher sends Count messages.
	Duration time.Duration
	Count    int
	// Warmup publishes for that long before measuring; not counted.
	Warmup time.Duration
	// Ramp spreads the connections over that long.
	Ramp time.Duration
	// Inflight caps unacknowledged QoS>0 messages per publisher; 0 leaves
	// the cap to the session (the server's Receive Maximum).
	Inflight int
	// Shard is this process's part of a run spread over processes.
	Shard Shard
	// RunID names the run in topics ({n}), client IDs and the header's run
	// tag. Sub mode with no RunID accepts every run.
	RunID string
	// ClientIDPrefix starts every client ID.
	ClientIDPrefix string
	// AckTimeout bounds the wait for outstanding acknowledgements after
	// publishing; 0 means 10s.
	AckTimeout time.Duration
	// SubscribeBatch is how many filters go into one SUBSCRIBE (AWS IoT
	// takes 8); 0 sends them all in one.
	SubscribeBatch int
	// Drain is how long receivers may stay idle after publishing before the
	// run ends with messages missing; 0 means 2s.
	Drain time.Duration
}

// Shard is part I of N (0 ≤ I < N).
type Shard struct{ Index, Total int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Total) }

// ParseShard parses "I/N".
func ParseShard(text string) (Shard, error) {
	i, n, ok := strings.Cut(text, "/")
	a, err1 := strconv.Atoi(i)
	b, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || b < 1 || a < 0 || a >= b {
		return Shard{}, errs.Usagef("invalid --shard %q: want I/N with 0 <= I < N, e.g. 0/4", text)
	}
	return Shard{a, b}, nil
}

// Validate checks the configuration and fills defaults; errors are usage errors.
func (c *Config) Validate() error {
	switch c.Mode {
	case "":
		c.Mode = Roundtrip
	case Roundtrip, Pub, Sub, Conn:
	default:
		return errs.Usagef("unknown bench mode %q: want roundtrip, pub, sub or conn", c.Mode)
	}
	if c.Shard.Total == 0 {
		c.Shard = Shard{0, 1}
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Second
	}
	if c.Mode != Conn && c.Duration == 0 && c.Count == 0 {
		c.Count = DefaultCount
	}
	switch {
	case c.Publishers < 0 || c.Subscribers < 0 || c.Count < 0 || c.Inflight < 0 || c.Rate < 0:
		return errs.Usagef("--clients, --subscribers, --count, --inflight and --rate must not be negative")
	case c.Mode != Sub && c.Publishers == 0:
		return errs.Usagef("--clients must be at least 1")
	case (c.Mode == Roundtrip || c.Mode == Sub) && c.Subscribers == 0:
		return errs.Usagef("bench %s needs --subscribers of at least 1", c.Mode)
	case c.QoS > 2:
		return errs.Usagef("invalid --qos %d: want 0, 1 or 2", c.QoS)
	case c.Size < HeaderSize && c.Mode != Conn && c.Template == nil:
		return errs.Usagef("--size %d is smaller than the %d-byte bench header (publisher, sequence, timestamp): use --size %d or more", c.Size, HeaderSize, HeaderSize)
	case c.Duration > 0 && c.Count > 0:
		return errs.Usagef("give --duration or --count, not both")
	case c.Shared != "" && strings.ContainsAny(c.Shared, "/+#"):
		return errs.Usagef("invalid --shared %q: a share name must not contain / + or #", c.Shared)
	}
	if c.Mode == Roundtrip || c.Mode == Sub {
		if _, err := c.Filters(); err != nil {
			return err
		}
	}
	return nil
}

// publisherID is the index of local publisher j across shards.
func (c *Config) publisherID(j int) int { return c.Shard.Index*c.Publishers + j }

// subscriberID is the index of local subscriber j across shards.
func (c *Config) subscriberID(j int) int { return c.Shard.Index*c.Subscribers + j }

// TopicFor is the topic publisher id publishes to.
func (c *Config) TopicFor(id int) string {
	return strings.NewReplacer("{i}", strconv.Itoa(id), "{n}", c.RunID).Replace(c.Topic)
}

// clientID is a client ID unique across shards and runs.
func (c *Config) clientID(role string, id int) string {
	return fmt.Sprintf("%s%s-%s%d", c.ClientIDPrefix, c.RunID, role, id)
}

// Filters are what each subscriber of this process subscribes to. Sub mode
// and unsharded roundtrip runs turn {i} into +, which needs {i} to be a
// whole topic level; sharded roundtrip runs subscribe to this shard's
// publishers' topics one by one, so no shard receives another's traffic.
func (c *Config) Filters() ([]string, error) {
	var filters []string
	wildcard := c.Mode == Sub || c.Shard.Total == 1
	if wildcard {
		levels := strings.Split(c.Topic, "/")
		for k, l := range levels {
			for _, ph := range []string{"{i}", "{n}"} {
				if !strings.Contains(l, ph) {
					continue
				}
				if ph == "{n}" && c.RunID != "" {
					continue
				}
				if l != ph {
					if c.Mode == Sub {
						return nil, errs.Usagef("topic %q: bench sub replaces %s with the + wildcard, so %s must be a whole topic level (e.g. a/%s/b)", c.Topic, ph, ph, ph)
					}
					wildcard = false
				}
				levels[k] = "+"
			}
		}
		if wildcard {
			f := strings.ReplaceAll(strings.Join(levels, "/"), "{n}", c.RunID)
			filters = []string{f}
		}
	}
	if !wildcard {
		seen := map[string]bool{}
		for j := 0; j < c.Publishers; j++ {
			if t := c.TopicFor(c.publisherID(j)); !seen[t] {
				seen[t] = true
				filters = append(filters, t)
			}
		}
	}
	if c.Shared != "" {
		for k, f := range filters {
			filters[k] = "$share/" + c.Shared + "/" + f
		}
	}
	return filters, nil
}
