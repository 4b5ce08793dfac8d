// Package limits checks topics, filters, payloads and session settings on the
// client, before anything is sent, against the rules of MQTT 5 or the
// stricter ones of AWS IoT Core (--limits). A broker would refuse the same
// things later, with a reason code or a dropped connection; checking first
// gives a usage error that names the rule.
package limits

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/errs"
)

// Rules is one set of client-side limits. A zero count limit means "no limit".
type Rules struct {
	Name string // "mqtt5" | "aws-iot"

	MaxTopicBytes   int // topic names and filters, UTF-8 bytes
	MaxTopicSlashes int // 0: no limit
	MaxPayload      int // bytes
	MaxClientID     int // bytes
	MaxQoS          int

	KeepaliveMin, KeepaliveMax time.Duration // 0 (disabled) is allowed when KeepaliveMin is 0

	// ReservedDollar: topics starting with '$' belong to the broker. Only
	// $aws/... may be published to or subscribed to, and nothing '$' may be
	// retained.
	ReservedDollar bool

	MaxSubscriptionsPerSubscribe  int // 0: no limit
	MaxSubscriptionsPerConnection int // 0: no limit

	MaxShareNameChars int // $share/<name>/…; 0: no limit beyond MQTT's

	// NoSubscriptionIDs: the endpoint refuses Subscription Identifiers
	// (AWS IoT disconnects a client that sends one).
	NoSubscriptionIDs bool

	// MaxPacketSize is the Maximum Packet Size a client advertises in
	// CONNECT unless --max-packet-size says otherwise: the largest packet
	// the broker may send it. A broker drops a message larger than that
	// instead of delivering it, so it must leave room for the largest
	// message the endpoint carries.
	MaxPacketSize int
}

// The MQTT 5 protocol limits (OASIS MQTT 5.0, 1.5.4, 2.2.2, 3.1.3.1, 4.7).
var MQTT5 = Rules{
	Name:          "mqtt5",
	MaxTopicBytes: 65535,
	MaxPayload:    268435455, // the largest Remaining Length, an upper bound
	MaxClientID:   65535,
	MaxQoS:        2,
	KeepaliveMax:  65535 * time.Second,
	MaxPacketSize: 256 << 20,
}

// AWSIoT adds AWS IoT Core's documented quotas (docs/AWS-IOT.md).
var AWSIoT = Rules{
	Name:                          "aws-iot",
	NoSubscriptionIDs:             true,
	MaxTopicBytes:                 256,
	MaxTopicSlashes:               7,
	MaxPayload:                    128 * 1024,
	MaxClientID:                   128,
	MaxQoS:                        1,
	KeepaliveMin:                  30 * time.Second,
	KeepaliveMax:                  1200 * time.Second,
	ReservedDollar:                true,
	MaxSubscriptionsPerSubscribe:  8,
	MaxSubscriptionsPerConnection: 50,
	MaxShareNameChars:             128,
	// A 128 KiB payload, its topic and properties fit with room to spare.
	MaxPacketSize: 256 << 10,
}

// For picks the rules for a --limits setting: "aws-iot", "mqtt5", or "auto"
// (and ""), which means aws-iot when host is an AWS endpoint (*.amazonaws.com
// or *.amazonaws.com.cn, any case) and mqtt5 otherwise. An unknown setting
// gets mqtt5: settings are checked against their enum before this.
func For(setting, host string) Rules {
	switch strings.ToLower(setting) {
	case "aws-iot":
		return AWSIoT
	case "mqtt5":
		return MQTT5
	case "auto", "":
		h := strings.TrimSuffix(strings.ToLower(host), ".")
		if strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn") {
			return AWSIoT
		}
	}
	return MQTT5
}

// Topic checks a topic name to publish to.
func (r Rules) Topic(topic string) error {
	if err := r.common("topic", topic); err != nil {
		return err
	}
	if i := strings.IndexAny(topic, "+#"); i >= 0 {
		return errs.Usagef("topic %s contains the wildcard %q: a topic to publish to must not contain + or # (MQTT 5); wildcards belong in subscription filters", quote(topic), topic[i])
	}
	if r.ReservedDollar && strings.HasPrefix(topic, "$") && !strings.HasPrefix(topic, "$aws/") {
		return errs.Usagef("topic %s starts with '$': AWS IoT reserves $ topics; only $aws/… topics may be published to (%s)", quote(topic), r.flag())
	}
	return r.awsSize("topic", topic, stripRules(topic))
}

// RetainTopic checks a topic to publish a retained message to.
func (r Rules) RetainTopic(topic string) error {
	if err := r.Topic(topic); err != nil {
		return err
	}
	if r.ReservedDollar && strings.HasPrefix(topic, "$") {
		return errs.Usagef("retained message to %s: AWS IoT does not retain messages on reserved $ topics (%s): publish without --retain", quote(topic), r.flag())
	}
	return nil
}

// Filter checks a subscription filter, shared ($share/<name>/<filter>) or not.
func (r Rules) Filter(filter string) error {
	if err := r.common("filter", filter); err != nil {
		return err
	}
	f, err := ParseFilter(filter)
	if err != nil {
		return err
	}
	if f.Share != "" && r.MaxShareNameChars > 0 && utf8.RuneCountInString(f.Share) > r.MaxShareNameChars {
		return errs.Usagef("filter %s has a share name of %d characters: %s allows at most %d (%s)", quote(filter), utf8.RuneCountInString(f.Share), r.who(), r.MaxShareNameChars, r.flag())
	}
	if r.ReservedDollar && strings.HasPrefix(f.Filter, "$") && !strings.HasPrefix(f.Filter, "$aws/") {
		return errs.Usagef("filter %s starts with '$': AWS IoT reserves $ topics; only $aws/… may be subscribed to (%s)", quote(filter), r.flag())
	}
	return r.awsSize("filter", filter, stripRules(f.Filter))
}

// Subscriptions checks how many filters one SUBSCRIBE (perPacket) and the
// whole connection (total) carry.
func (r Rules) Subscriptions(perPacket, total int) error {
	if r.MaxSubscriptionsPerConnection > 0 && total > r.MaxSubscriptionsPerConnection {
		return errs.Usagef("%d subscriptions: %s allows at most %d per connection (%s)", total, r.who(), r.MaxSubscriptionsPerConnection, r.flag())
	}
	if r.MaxSubscriptionsPerSubscribe > 0 && perPacket > r.MaxSubscriptionsPerSubscribe {
		return errs.Usagef("%d filters in one SUBSCRIBE: %s allows at most %d (%s): subscribe in batches", perPacket, r.who(), r.MaxSubscriptionsPerSubscribe, r.flag())
	}
	return nil
}

// Payload checks a payload size in bytes.
func (r Rules) Payload(n int) error {
	if n < 0 {
		return errs.Usagef("payload size %d is negative", n)
	}
	if n > r.MaxPayload {
		return errs.Usagef("payload of %d bytes is too large: %s allows at most %d bytes (%s)", n, r.who(), r.MaxPayload, r.flag())
	}
	return nil
}

// maxString is the longest string or binary value MQTT can carry: its
// length is a two-byte integer (MQTT 5 1.5.4, 1.5.6).
const maxString = 65535

// Text checks a value MQTT carries as a UTF-8 string (a content type, a
// user property key or value, a username): at most 65535 bytes, valid
// UTF-8, no U+0000 (MQTT 5 1.5.4). what names it for the message, like
// "--content-type".
func Text(what, s string) error {
	if len(s) > maxString {
		return errs.Usagef("%s of %d bytes is too long: MQTT allows at most %d bytes in a string: shorten it", what, len(s), maxString)
	}
	if !utf8.ValidString(s) {
		return errs.Usagef("%s %s is not valid UTF-8: MQTT 5 carries it as UTF-8 text; check the shell quoting or the file encoding", what, quote(s))
	}
	if strings.ContainsRune(s, 0) {
		return errs.Usagef("%s %s contains U+0000, which MQTT forbids in strings", what, quote(s))
	}
	return nil
}

// Binary checks a value MQTT carries as binary data (correlation data, a
// password, a will payload): at most 65535 bytes.
func Binary(what string, n int) error {
	if n > maxString {
		return errs.Usagef("%s of %d bytes is too long: MQTT allows at most %d bytes: shorten it", what, n, maxString)
	}
	return nil
}

// PayloadOver is the error for an input of unknown size that is larger
// than n bytes.
func (r Rules) PayloadOver(n int) error {
	return errs.Usagef("payload of more than %d bytes is too large: %s allows at most %d bytes (%s)", n, r.who(), r.MaxPayload, r.flag())
}

// QoS checks a quality of service level.
func (r Rules) QoS(q int) error {
	if q < 0 || q > 2 {
		return errs.Usagef("QoS %d is not a QoS level: use 0, 1 or 2", q)
	}
	if q > r.MaxQoS {
		return errs.Usagef("QoS %d is not supported: %s allows at most QoS %d (%s)", q, r.who(), r.MaxQoS, r.flag())
	}
	return nil
}

// ClientID checks a client ID; empty asks the broker to assign one.
func (r Rules) ClientID(id string) error {
	if !utf8.ValidString(id) {
		return errs.Usagef("client ID %s is not valid UTF-8: MQTT 5 client IDs are UTF-8 text; give --client-id in UTF-8", quote(id))
	}
	if strings.ContainsRune(id, 0) {
		return errs.Usagef("client ID %s contains U+0000, which MQTT forbids", quote(id))
	}
	if len(id) > r.MaxClientID {
		return errs.Usagef("client ID %s has %d bytes: %s allows at most %d (%s)", quote(id), len(id), r.who(), r.MaxClientID, r.flag())
	}
	return nil
}

// Keepalive checks a keepalive interval; MQTT carries whole seconds.
func (r Rules) Keepalive(d time.Duration) error {
	if d < 0 {
		return errs.Usagef("keepalive %s is negative", d)
	}
	if d > r.KeepaliveMax || d < r.KeepaliveMin {
		lo := "0 (off)"
		if r.KeepaliveMin > 0 {
			lo = r.KeepaliveMin.String()
		}
		return errs.Usagef("keepalive %s is out of range: %s allows %s to %s (%s)", d, r.who(), lo, r.KeepaliveMax, r.flag())
	}
	return nil
}

// Filter is a subscription filter split into its share name and the filter.
type Filter struct {
	Share  string // the <name> of $share/<name>/…, "" when not shared
	Filter string // the topic filter proper
}

// String rebuilds the filter as it is sent.
func (f Filter) String() string {
	if f.Share == "" {
		return f.Filter
	}
	return "$share/" + f.Share + "/" + f.Filter
}

// Wildcard reports whether the filter has a + or # level.
func (f Filter) Wildcard() bool { return strings.ContainsAny(f.Filter, "+#") }

// ParseFilter splits a filter and checks the MQTT 5 wildcard and share-name
// rules only (no sizes, no broker-specific rules: see Rules.Filter).
func ParseFilter(filter string) (Filter, error) {
	f := Filter{Filter: filter}
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		name, sub, found := strings.Cut(rest, "/")
		switch {
		case name == "":
			return f, errs.Usagef("filter %s has an empty share name: use $share/<name>/<filter>", quote(filter))
		case strings.ContainsAny(name, "+#"):
			return f, errs.Usagef("filter %s has a share name containing + or #, which MQTT 5 forbids: use $share/<name>/<filter>", quote(filter))
		case !found || sub == "":
			return f, errs.Usagef("filter %s has no topic filter after the share name: use $share/<name>/<filter>", quote(filter))
		}
		f = Filter{Share: name, Filter: sub}
	} else if filter == "$share" {
		return f, errs.Usagef("filter %s has no share name: use $share/<name>/<filter>", quote(filter))
	}
	levels := strings.Split(f.Filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return f, errs.Usagef("filter %s has '#' in level %d of %d: '#' is allowed only as the last level (MQTT 5)", quote(filter), i+1, len(levels))
		case l != "#" && strings.Contains(l, "#"):
			return f, errs.Usagef("filter %s has '#' inside the level %s: '#' must be a level of its own, like a/#", quote(filter), quote(l))
		case l != "+" && strings.Contains(l, "+"):
			return f, errs.Usagef("filter %s has '+' inside the level %s: '+' must be a level of its own, like a/+/b", quote(filter), quote(l))
		}
	}
	return f, nil
}

// common applies the MQTT 5 string rules shared by topics and filters.
func (r Rules) common(what, s string) error {
	if s == "" {
		return errs.Usagef("empty %s: MQTT 5 requires at least one character", what)
	}
	if !utf8.ValidString(s) {
		return errs.Usagef("%s %s is not valid UTF-8 (MQTT 5): topics and filters are UTF-8 text; check the shell quoting or the file encoding", what, quote(s))
	}
	if strings.ContainsRune(s, 0) {
		return errs.Usagef("%s %s contains U+0000, which MQTT 5 forbids", what, quote(s))
	}
	if len(s) > 65535 {
		return errs.Usagef("%s of %d bytes is too long: MQTT 5 allows at most 65535: shorten it", what, len(s))
	}
	return nil
}

// awsSize applies the byte and slash limits to counted, the part of s that
// the broker measures: AWS IoT leaves out a $aws/rules/<rule>/ prefix and
// the $share/<name>/ part.
func (r Rules) awsSize(what, s, counted string) error {
	if n := len(counted); n > r.MaxTopicBytes {
		return errs.Usagef("%s %s has %d bytes: %s allows at most %d (%s)", what, quote(s), n, r.who(), r.MaxTopicBytes, r.flag())
	}
	if r.MaxTopicSlashes > 0 {
		if n := strings.Count(counted, "/"); n > r.MaxTopicSlashes {
			return errs.Usagef("%s %s has %d slashes: %s allows at most %d (%s)", what, quote(s), n, r.who(), r.MaxTopicSlashes, r.flag())
		}
	}
	return nil
}

// stripRules drops a Basic Ingest prefix $aws/rules/<rule>/.
func stripRules(s string) string {
	rest, ok := strings.CutPrefix(s, "$aws/rules/")
	if !ok {
		return s
	}
	if _, after, found := strings.Cut(rest, "/"); found {
		return after
	}
	return s
}

func (r Rules) who() string {
	if r.Name == "aws-iot" {
		return "AWS IoT"
	}
	return "MQTT 5"
}

func (r Rules) flag() string { return "--limits " + r.Name }

// Quote quotes s for a one-line message, shortened when long.
func Quote(s string) string { return quote(s) }

// quote quotes s for a message, shortened when long.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

// Matches reports whether filter (no $share prefix) matches topic, as
// MQTT defines it: + one level, # the rest (the parent included), and
// wildcards at the start never match a topic starting with $.
func Matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != tl {
			return false
		}
		if !fmore || !tmore {
			if fmore && !tmore {
				return frest == "#" // a/# matches a
			}
			return fmore == tmore
		}
		filter, topic = frest, trest
	}
}
