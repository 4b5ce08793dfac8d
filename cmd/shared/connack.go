// Package shared holds what commands share beyond cmdutil, where it needs
// pkg/session (which cmdutil must not import: internal/testenv, used by
// pkg/session's tests, imports cmdutil): a broker's CONNACK as a report
// and the target URL, for whoami and profile validate --connect (one
// connection made by connect.Conn, as every command connects); a received
// message as a JSON line, for sub -F json and req -o json.
package shared

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil/connect"
	"github.com/iotctl/iotctl/pkg/esc"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session"
)

// closeTimeout bounds the DISCONNECT after the CONNACK.
const closeTimeout = 5 * time.Second

// Connack is a successful CONNACK as whoami and validate report it.
type Connack struct {
	// MQTTVersion is the protocol spoken: "5" or "3.1.1" (--mqtt-version),
	// whose CONNACK says nothing but session present: the fields after it
	// are then what MQTT 3.1.1 allows.
	MQTTVersion         string  `json:"mqtt_version"`
	ReasonCode          byte    `json:"reason_code"`
	Reason              string  `json:"reason"`
	ClientID            string  `json:"client_id"`
	AssignedClientID    string  `json:"assigned_client_id"`
	SessionPresent      bool    `json:"session_present"`
	ServerKeepalive     *uint16 `json:"server_keepalive"`
	ReceiveMaximum      uint16  `json:"receive_maximum"`
	MaximumQoS          byte    `json:"maximum_qos"`
	RetainAvailable     bool    `json:"retain_available"`
	MaximumPacketSize   uint32  `json:"maximum_packet_size"`
	TopicAliasMaximum   uint16  `json:"topic_alias_maximum"`
	WildcardAvailable   bool    `json:"wildcard_subscription_available"`
	SharedAvailable     bool    `json:"shared_subscription_available"`
	SubIDAvailable      bool    `json:"subscription_identifiers_available"`
	ReasonString        string  `json:"reason_string"`
	ResponseInformation string  `json:"response_information"`

	// Latency is dial, handshakes and CONNECT/CONNACK.
	Latency time.Duration `json:"-"`
	// TLS is what the TLS handshake negotiated (nil: a plain connection);
	// reported next to the CONNACK, not in it.
	TLS *TLSInfo `json:"-"`
}

// TLSInfo is a connection's negotiated TLS.
type TLSInfo struct {
	Version     string `json:"version"`
	CipherSuite string `json:"cipher_suite"`
	ALPN        string `json:"alpn"`
}

func tlsInfo(st *tls.ConnectionState) *TLSInfo {
	if st == nil {
		return nil
	}
	return &TLSInfo{Version: tls.VersionName(st.Version), CipherSuite: tls.CipherSuiteName(st.CipherSuite), ALPN: st.NegotiatedProtocol}
}

// Rows are the negotiated TLS as key/value lines for text output.
func (t *TLSInfo) Rows() [][2]string {
	alpn := t.ALPN
	if alpn == "" {
		alpn = "- (none negotiated)"
	}
	return [][2]string{{"TLS version", t.Version}, {"cipher suite", t.CipherSuite}, {"ALPN", esc.String(alpn)}}
}

// LatencyMS is the connect latency in milliseconds, to the microsecond.
func (c *Connack) LatencyMS() float64 {
	return math.Round(float64(c.Latency)/float64(time.Microsecond)) / 1000
}

// Target is where the settings and the provider's Dial point, as a URL
// (scheme from the transport), for messages.
func Target(st *profile.Settings, d *auth.Dial) (string, error) {
	t, err := session.Target(st, d)
	if err != nil {
		return "", err
	}
	scheme := "mqtt"
	if d != nil {
		switch d.Transport {
		case auth.TLS:
			scheme = "mqtts"
		case auth.WS, auth.WSS:
			scheme = string(d.Transport)
		}
	}
	return scheme + "://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), nil
}

// Connect connects once through conn (no reconnect), reads the CONNACK
// and disconnects with reason 0x00. Failures are the session's typed
// errors: errs.Connect (exit 3), errs.Refused (exit 4) or errs.Usage.
func Connect(ctx context.Context, conn *connect.Conn) (*Connack, error) {
	sess, err := conn.Connect(ctx, session.Options{})
	if err != nil {
		return nil, err
	}
	c := sess.Capabilities()
	version := session.Version5
	if c.ProtocolVersion == 4 {
		version = session.Version311
	}
	out := &Connack{
		MQTTVersion:         version,
		Reason:              session.ReasonName(0),
		ClientID:            sess.ClientID(),
		AssignedClientID:    c.AssignedClientID,
		SessionPresent:      c.SessionPresent,
		ServerKeepalive:     c.ServerKeepalive,
		ReceiveMaximum:      c.ReceiveMaximum,
		MaximumQoS:          c.MaximumQoS,
		RetainAvailable:     c.RetainAvailable,
		MaximumPacketSize:   c.MaximumPacketSize,
		TopicAliasMaximum:   c.TopicAliasMaximum,
		WildcardAvailable:   c.WildcardAvailable,
		SharedAvailable:     c.SharedAvailable,
		SubIDAvailable:      c.SubIDAvailable,
		ReasonString:        c.ReasonString,
		ResponseInformation: c.ResponseInformation,
		Latency:             c.ConnectLatency,
		TLS:                 tlsInfo(c.TLS),
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	_ = sess.Close(cctx, 0x00)
	return out, nil
}

// Rows are the CONNACK as key/value lines for text output.
func (c *Connack) Rows() [][2]string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	opt := func(s string) string { // the broker's text: escaped
		if s == "" {
			return "-"
		}
		return esc.String(s)
	}
	keepalive := "- (the client's)"
	if c.ServerKeepalive != nil {
		keepalive = fmt.Sprintf("%ds", *c.ServerKeepalive)
	}
	maxPacket := "no limit"
	if c.MaximumPacketSize > 0 {
		maxPacket = fmt.Sprintf("%d bytes", c.MaximumPacketSize)
	}
	if c.MQTTVersion == session.Version311 {
		return [][2]string{
			{"MQTT version", "3.1.1"},
			{"CONNACK", "accepted (return code 0)"},
			{"client ID", c.ClientID},
			{"session present", yes(c.SessionPresent)},
			{"in flight at most", fmt.Sprintf("%d (--inflight; 3.1.1 brokers say nothing of it)", c.ReceiveMaximum)},
			{"connect latency", FormatLatency(c.Latency)},
		}
	}
	return [][2]string{
		{"MQTT version", "5"},
		{"CONNACK", fmt.Sprintf("%s (0x%02X)", c.Reason, c.ReasonCode)},
		{"client ID", c.ClientID},
		{"assigned client ID", opt(c.AssignedClientID)},
		{"session present", yes(c.SessionPresent)},
		{"server keepalive", keepalive},
		{"receive maximum", strconv.Itoa(int(c.ReceiveMaximum))},
		{"maximum QoS", strconv.Itoa(int(c.MaximumQoS))},
		{"retain available", yes(c.RetainAvailable)},
		{"maximum packet size", maxPacket},
		{"topic alias maximum", strconv.Itoa(int(c.TopicAliasMaximum))},
		{"wildcard subscriptions", yes(c.WildcardAvailable)},
		{"shared subscriptions", yes(c.SharedAvailable)},
		{"subscription identifiers", yes(c.SubIDAvailable)},
		{"reason string", opt(c.ReasonString)},
		{"response information", opt(c.ResponseInformation)},
		{"connect latency", FormatLatency(c.Latency)},
	}
}

// FormatLatency rounds a latency for display: 0.42ms, 12.3ms, 1.25s.
func FormatLatency(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return d.Round(10 * time.Millisecond).String()
}
