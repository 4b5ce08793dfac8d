package broker_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	ppackets "github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
)

// TestMaximumPacketSize: the limit is advertised in CONNACK and a larger
// packet ends the connection with 0x95; a CONNECT over the pre-auth limit
// is refused before it is read.
func TestMaximumPacketSize(t *testing.T) {
	caps := broker.DefaultCapabilities()
	caps.MaximumPacketSize = 1024
	caps.MaximumConnectSize = 512
	b := testenv.StartBroker(t, broker.Options{Capabilities: &caps})
	addr := strings.TrimPrefix(b.URL(broker.MQTT), "mqtt://")

	nc := rawConnect(t, addr, func(c *ppackets.Connect) {})
	pub := ppackets.NewControlPacket(ppackets.PUBLISH)
	pp := pub.Content.(*ppackets.Publish)
	pp.Topic, pp.QoS, pp.PacketID, pp.Payload = "big", 1, 1, bytes.Repeat([]byte("x"), 2000)
	if _, err := pub.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := ppackets.ReadPacket(nc)
	if err != nil || p.Type != ppackets.DISCONNECT || p.Content.(*ppackets.Disconnect).ReasonCode != 0x95 {
		t.Fatalf("got %v %v, want DISCONNECT 0x95", p, err)
	}

	// A CONNECT of 600 bytes against a 512-byte pre-auth limit.
	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	c := ppackets.NewControlPacket(ppackets.CONNECT)
	cp := c.Content.(*ppackets.Connect)
	cp.ProtocolName, cp.ProtocolVersion, cp.ClientID, cp.CleanStart = "MQTT", 5, strings.Repeat("c", 600), true
	if _, err := c.WriteTo(nc2); err != nil {
		t.Fatal(err)
	}
	_ = nc2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if p, err := ppackets.ReadPacket(nc2); err == nil {
		t.Fatalf("oversized CONNECT answered with %v", p)
	}
}

// rawConnect connects with a raw MQTT 5 CONNECT and checks the CONNACK.
func rawConnect(t *testing.T, addr string, mod func(*ppackets.Connect)) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := ppackets.NewControlPacket(ppackets.CONNECT)
	cp := c.Content.(*ppackets.Connect)
	cp.ProtocolName, cp.ProtocolVersion, cp.ClientID, cp.CleanStart = "MQTT", 5, "raw", true
	mod(cp)
	if _, err := c.WriteTo(nc); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := ppackets.ReadPacket(nc)
	if err != nil || p.Type != ppackets.CONNACK {
		t.Fatalf("CONNACK: %v %v", p, err)
	}
	ack := p.Content.(*ppackets.Connack)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK 0x%02X", ack.ReasonCode)
	}
	if ack.Properties == nil || ack.Properties.MaximumPacketSize == nil {
		t.Fatal("CONNACK without Maximum Packet Size")
	}
	_ = nc.SetReadDeadline(time.Time{})
	return nc
}
