package session

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/esc"
)

// The --debug trace: one line per packet, secrets redacted (CONNECT
// password, the query of a custom-authorizer username carrying tokens and
// signatures; websocket URLs are redacted by RedactURL before they get here).

var traceMu sync.Mutex

func traceLine(w io.Writer, dir, name, detail string) {
	traceMu.Lock()
	defer traceMu.Unlock()
	ts := time.Now().Format("15:04:05.000000")
	if detail == "" {
		fmt.Fprintf(w, "%s %s %s\n", ts, dir, name)
		return
	}
	fmt.Fprintf(w, "%s %s %s %s\n", ts, dir, name, detail)
}

func traceOut(w io.Writer, name, detail string) { traceLine(w, "->", name, detail) }
func traceIn(w io.Writer, name, detail string)  { traceLine(w, "<-", name, detail) }

func packetName(t byte) string {
	return (&packets.ControlPacket{FixedHeader: packets.FixedHeader{Type: t}}).PacketType()
}

// redactUsername keeps a username's base and parameter names and hides
// parameter values (custom authorizer tokens and signatures).
func redactUsername(u string) string {
	base, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=****"
		}
	}
	return base + "?" + strings.Join(parts, "&")
}

// describe summarises a packet for the trace.
func describe(cp *packets.ControlPacket) string {
	switch p := cp.Content.(type) {
	case *packets.Connect:
		var b strings.Builder
		if p.ProtocolVersion == 4 {
			fmt.Fprintf(&b, "mqtt=3.1.1 client_id=%q clean_session=%t keepalive=%d", p.ClientID, p.CleanStart, p.KeepAlive)
		} else {
			fmt.Fprintf(&b, "client_id=%q clean_start=%t keepalive=%d", p.ClientID, p.CleanStart, p.KeepAlive)
		}
		if p.UsernameFlag {
			fmt.Fprintf(&b, " username=%q", redactUsername(p.Username))
		}
		if p.PasswordFlag {
			b.WriteString(" password=****")
		}
		if v := p.Properties.SessionExpiryInterval; v != nil {
			fmt.Fprintf(&b, " session_expiry=%d", *v)
		}
		if v := p.Properties.ReceiveMaximum; v != nil {
			fmt.Fprintf(&b, " receive_maximum=%d", *v)
		}
		if v := p.Properties.MaximumPacketSize; v != nil {
			fmt.Fprintf(&b, " maximum_packet_size=%d", *v)
		}
		if v := p.Properties.RequestResponseInfo; v != nil {
			fmt.Fprintf(&b, " request_response_info=%d", *v)
		}
		b.WriteString(traceUser("user_property", p.Properties.User))
		if p.WillFlag {
			fmt.Fprintf(&b, " will_topic=%q will_qos=%d will_retain=%t", p.WillTopic, p.WillQOS, p.WillRetain)
			if wp := p.WillProperties; wp != nil {
				if wp.WillDelayInterval != nil {
					fmt.Fprintf(&b, " will_delay=%d", *wp.WillDelayInterval)
				}
				if wp.MessageExpiry != nil {
					fmt.Fprintf(&b, " will_expiry=%d", *wp.MessageExpiry)
				}
				if wp.ContentType != "" {
					fmt.Fprintf(&b, " will_content_type=%q", wp.ContentType)
				}
				b.WriteString(traceUser("will_user_property", wp.User))
			}
		}
		return b.String()
	case *packets.Connack:
		c := capabilities(p)
		s := fmt.Sprintf("reason=0x%02X session_present=%t receive_maximum=%d maximum_qos=%d retain=%t max_packet=%d topic_alias_max=%d", p.ReasonCode, p.SessionPresent, c.ReceiveMaximum, c.MaximumQoS, c.RetainAvailable, c.MaximumPacketSize, c.TopicAliasMaximum)
		if c.AssignedClientID != "" {
			s += fmt.Sprintf(" assigned_client_id=%q", c.AssignedClientID)
		}
		if c.ServerKeepalive != nil {
			s += fmt.Sprintf(" server_keepalive=%d", *c.ServerKeepalive)
		}
		if c.ReasonString != "" {
			s += fmt.Sprintf(" reason_string=%q", c.ReasonString)
		}
		if c.ResponseInformation != "" {
			s += fmt.Sprintf(" response_information=%q", c.ResponseInformation)
		}
		return s
	case *packets.Subscribe:
		var parts []string
		for _, o := range p.Subscriptions {
			parts = append(parts, fmt.Sprintf("%q/qos%d", o.Topic, o.QoS))
		}
		if p.Properties != nil {
			parts = append(parts, strings.TrimSpace(traceUser("user_property", p.Properties.User)))
		}
		return strings.TrimSpace(fmt.Sprintf("id=%d %s", p.PacketID, strings.Join(parts, " ")))
	case *packets.Suback:
		return fmt.Sprintf("id=%d reasons=% X", p.PacketID, p.Reasons)
	case *packets.Unsubscribe:
		return fmt.Sprintf("id=%d %q", p.PacketID, p.Topics)
	case *packets.Unsuback:
		return fmt.Sprintf("id=%d reasons=% X", p.PacketID, p.Reasons)
	case *packets.Disconnect:
		return fmt.Sprintf("reason=0x%02X", p.ReasonCode)
	}
	return ""
}

// ackTrace describes an acknowledgement for --debug: under MQTT 3.1.1,
// which has no reason codes, its packet ID alone.
func ackTrace(id uint16, reason byte, reasonString string, v311 bool) string {
	if v311 {
		return fmt.Sprintf("id=%d", id)
	}
	if reasonString == "" {
		return fmt.Sprintf("id=%d reason=0x%02X", id, reason)
	}
	return fmt.Sprintf("id=%d reason=0x%02X %s", id, reason, esc.String(reasonString))
}
