package reliability

import (
	"slices"
	"strings"
	"testing"
)

// protocol is an MQTT version the reliability cases run under.
type protocol struct {
	name    string   // subtest name
	version string   // as mosquitto's log and report name it
	flags   []string // iotctl's global flags for it
	// persistent keeps a session across connections: --clean-start=false
	// with an expiry under MQTT 5; under 3.1.1, which has no expiry,
	// --clean-start=false alone (the session lasts until a clean connect).
	persistent []string
}

// protocols: the cut and restart cases run under each (issue 17).
var protocols = []protocol{
	{name: "mqtt5", version: "5", persistent: []string{"--clean-start=false", "--session-expiry", "1h"}},
	{name: "mqtt311", version: "3.1.1", flags: []string{"--mqtt-version", "3.1.1"}, persistent: []string{"--clean-start=false"}},
}

// args is iotctl's command line: the protocol's flags, then parts
// (strings and string slices) in order.
func (p protocol) args(parts ...any) []string {
	out := slices.Clone(p.flags)
	for _, a := range parts {
		switch a := a.(type) {
		case string:
			out = append(out, a)
		case []string:
			out = append(out, a...)
		default:
			panic("protocol.args: a string or []string")
		}
	}
	return out
}

// check fails unless the broker's log (mosquitto's, nats-server's) shows
// every connection of each client ID in the protocol's version (and at
// least one).
func (p protocol) check(t *testing.T, m interface{ Protocols(string) []string }, ids ...string) {
	t.Helper()
	for _, id := range ids {
		got := m.Protocols(id)
		if len(got) == 0 || slices.ContainsFunc(got, func(v string) bool { return v != p.version }) {
			t.Errorf("the broker logged %s's connections as MQTT %s, want %s only", id, strings.Join(got, ", "), p.version)
		}
	}
}
