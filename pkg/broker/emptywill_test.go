package broker

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A will with an empty message is valid in MQTT 3.1.1 and 5 (the Will
// Message is present, of length 0): the broker accepts the CONNECT (mochi's
// validation refuses it: 0x82, return code 5 "not authorized" under 3.1.1).
func TestEmptyWillMessage(t *testing.T) {
	b := quietBroker(t, nil)
	addr := strings.TrimPrefix(b.URL(MQTT), "mqtt://")
	for _, version := range []byte{4, 5} {
		pk := packets.Packet{ProtocolVersion: version, FixedHeader: packets.FixedHeader{Type: packets.Connect}}
		pk.Connect = packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "empty-will", Clean: true, Keepalive: 60,
			WillFlag: true, WillTopic: "w/empty"}
		var buf bytes.Buffer
		if err := pk.ConnectEncode(&buf); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(wait))
		if _, err := c.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		if _, err := io.ReadFull(c, ack); err != nil {
			t.Fatalf("version %d: no CONNACK: %v", version, err)
		}
		c.Close()
		if ack[0] != 0x20 || ack[3] != 0 {
			t.Errorf("version %d: CONNACK % X, want success", version, ack)
		}
	}
}
