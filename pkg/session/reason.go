package session

import (
	"fmt"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
)

// ReasonError is a broker's refusal: a reason code >= 0x80 in a CONNACK,
// PUBACK, PUBREC, SUBACK, UNSUBACK or DISCONNECT. Its errs kind is Refused
// (errors.As to *errs.Error works on it directly).
type ReasonError struct {
	Op           string // connect | publish | subscribe | unsubscribe | disconnect
	Code         byte
	ReasonString string
	Topic        string // topic or filter, or the endpoint for connect
	// MQTT311: the broker spoke MQTT 3.1.1; Code is the MQTT 5 reason
	// code of its CONNACK return code (v311.go) or SUBACK 0x80 (Failure),
	// which Error names as such.
	MQTT311 bool
}

// Error reads `publish to a/b: not authorized (0x87): <reason string>: <what to check>`.
// The reason string and topic are the broker's or the user's text: control
// characters in them are escaped.
func (e *ReasonError) Error() string {
	var what string
	topic := esc.String(e.Topic)
	switch e.Op {
	case "publish":
		what = "publish to " + topic
	case "subscribe":
		what = "subscribe to " + topic
	case "unsubscribe":
		what = "unsubscribe from " + topic
	case "connect":
		what = "connect"
		if e.Topic != "" {
			what += " to " + topic
		}
	case "disconnect":
		what = "disconnected by the broker"
	default:
		what = e.Op
	}
	msg := fmt.Sprintf("%s: %s (0x%02X)", what, ReasonName(e.Code), e.Code)
	if rc := returnCode311(e.Code); e.MQTT311 && e.Op == "connect" && rc != 0 {
		msg = fmt.Sprintf("%s: %s (MQTT 3.1.1 return code %d)", what, ReasonName(e.Code), rc)
	}
	if e.MQTT311 && e.Op == "subscribe" && e.Code == 0x80 {
		return fmt.Sprintf("%s: refused (MQTT 3.1.1 return code 0x80, which gives no reason): check the filter and the broker's authorization rules (AWS IoT: iot:Subscribe on the filter)", what)
	}
	if e.ReasonString != "" && !strings.EqualFold(e.ReasonString, ReasonName(e.Code)) {
		msg += ": " + esc.String(e.ReasonString)
	}
	if hint := e.hint(); hint != "" {
		msg += ": " + hint
	}
	return msg
}

// As makes errs.KindOf see a ReasonError as kind Refused.
func (e *ReasonError) As(target any) bool {
	if t, ok := target.(**errs.Error); ok {
		*t = &errs.Error{Kind: errs.Refused, Err: e}
		return true
	}
	return false
}

func (e *ReasonError) hint() string {
	switch e.Code {
	case 0x87:
		switch e.Op {
		case "publish":
			return "check that the IoT policy allows iot:Publish on this topic"
		case "subscribe":
			return "check that the IoT policy allows iot:Subscribe on this filter (and iot:Receive on its topics)"
		case "connect":
			return "check that the IoT policy allows iot:Connect for this client ID and that the certificate is active"
		}
		return "check the broker's authorization rules (IoT policy)"
	case 0x86:
		return "check the credentials (--username, --password, the authorizer settings)"
	case 0x85:
		return "use another client ID (--client-id); AWS IoT allows at most 128 bytes"
	case 0x84:
		if e.MQTT311 {
			return "the broker does not speak MQTT 3.1.1: try --mqtt-version 5"
		}
		return "the broker does not speak MQTT 5: try --mqtt-version 3.1.1"
	case 0x88, 0x89:
		return "retry later"
	case 0x8A:
		return "this client is banned by the broker"
	case 0x8C:
		return "the broker does not support this authentication method"
	case 0x8E:
		return "another client connected with the same client ID: use a unique --client-id"
	case 0x8F:
		return "check the topic filter"
	case 0x90:
		return "check the topic name (wildcards are not allowed in a publish, and the broker may reserve some topics)"
	case 0x91:
		return "packet identifier already in use"
	case 0x93:
		return "too many unacknowledged messages for the broker's Receive Maximum"
	case 0x95:
		return "the message is larger than the broker's maximum packet size (AWS IoT: 128 KB)"
	case 0x96:
		return "slow down (--rate); AWS IoT allows 100 publishes per second per connection"
	case 0x97:
		return "a quota was exceeded: slow down (--rate) or check the account's limits"
	case 0x99:
		return "the payload is not valid UTF-8 but --payload-format utf8 was set"
	case 0x9A:
		return "the broker does not support retained messages: drop --retain"
	case 0x9B:
		return "the broker does not support this QoS: use a lower --qos (AWS IoT: 0 or 1)"
	case 0x9C, 0x9D:
		return "the broker asked to use another server"
	case 0x9E:
		return "the broker does not support shared subscriptions"
	case 0x9F:
		return "connecting too often: wait before reconnecting (AWS IoT: 1 CONNECT per second per client ID)"
	case 0xA1:
		return "the broker does not support subscription identifiers"
	case 0xA2:
		return "the broker does not support wildcard subscriptions"
	}
	return ""
}

// reasonNames are the MQTT 5 reason codes (OASIS MQTT 5.0, 2.4).
var reasonNames = map[byte]string{
	0x00: "success",
	0x01: "granted QoS 1",
	0x02: "granted QoS 2",
	0x04: "disconnect with will message",
	0x10: "no matching subscribers",
	0x11: "no subscription existed",
	0x18: "continue authentication",
	0x19: "re-authenticate",
	0x80: "unspecified error",
	0x81: "malformed packet",
	0x82: "protocol error",
	0x83: "implementation specific error",
	0x84: "unsupported protocol version",
	0x85: "client identifier not valid",
	0x86: "bad user name or password",
	0x87: "not authorized",
	0x88: "server unavailable",
	0x89: "server busy",
	0x8A: "banned",
	0x8B: "server shutting down",
	0x8C: "bad authentication method",
	0x8D: "keep alive timeout",
	0x8E: "session taken over",
	0x8F: "topic filter invalid",
	0x90: "topic name invalid",
	0x91: "packet identifier in use",
	0x92: "packet identifier not found",
	0x93: "receive maximum exceeded",
	0x94: "topic alias invalid",
	0x95: "packet too large",
	0x96: "message rate too high",
	0x97: "quota exceeded",
	0x98: "administrative action",
	0x99: "payload format invalid",
	0x9A: "retain not supported",
	0x9B: "QoS not supported",
	0x9C: "use another server",
	0x9D: "server moved",
	0x9E: "shared subscriptions not supported",
	0x9F: "connection rate exceeded",
	0xA0: "maximum connect time",
	0xA1: "subscription identifiers not supported",
	0xA2: "wildcard subscriptions not supported",
}

// ReasonName names an MQTT 5 reason code; 0x00 is "success" (also "normal
// disconnection" and "granted QoS 0", depending on the packet).
func ReasonName(code byte) string {
	if n, ok := reasonNames[code]; ok {
		return n
	}
	return fmt.Sprintf("unknown reason code 0x%02X", code)
}

// fatalDisconnect reports whether a server DISCONNECT reason means a
// reconnect would not help: the client is at fault or told to go away.
func fatalDisconnect(code byte) bool {
	switch code {
	case 0x81, 0x82, 0x87, 0x8E, 0x90, 0x93, 0x94, 0x95, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0xA1, 0xA2:
		return true
	}
	return false
}

// fatalConnack reports whether a refused CONNACK should stop reconnecting.
func fatalConnack(code byte) bool {
	switch code {
	case 0x88, 0x89, 0x97, 0x9F, 0x80:
		return false
	}
	return code >= 0x80
}
