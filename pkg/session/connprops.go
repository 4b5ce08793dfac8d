package session

import (
	"strconv"
	"strings"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// ParseUserProperties parses key=value pairs given to flag (like
// "--connect-property") as MQTT 5 user properties, in order, each key and
// value checked as an MQTT UTF-8 string.
func ParseUserProperties(flag string, kvs []string) ([]UserProperty, error) {
	var out []UserProperty
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, errs.Usagef("%s %s: want key=value", flag, limits.Quote(kv))
		}
		if err := limits.Text(flag+" key", k); err != nil {
			return nil, err
		}
		if err := limits.Text(flag+" value of "+limits.Quote(k), v); err != nil {
			return nil, err
		}
		out = append(out, UserProperty{Key: k, Value: v})
	}
	return out, nil
}

// wireUser converts user properties to the packet library's.
func wireUser(ups []UserProperty) []packets.User {
	var out []packets.User
	for _, u := range ups {
		out = append(out, packets.User{Key: u.Key, Value: u.Value})
	}
	return out
}

// traceUser formats user properties for the packet trace.
func traceUser(name string, us []packets.User) string {
	var b strings.Builder
	for _, u := range us {
		b.WriteString(" " + name + "=" + strconv.Quote(u.Key+"="+u.Value))
	}
	return b.String()
}
