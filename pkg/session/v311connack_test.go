package session

import (
	"bufio"
	"context"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/pkg/errs"
)

// TestV311Connack: an MQTT 3.1.1-only broker (NATS) answers an MQTT 5
// CONNECT with the 3.1.1 CONNACK 20 02 00 01 (unacceptable protocol
// version). The error says so and what to do, as a refusal (exit 4), not
// "malformed CONNACK".
func TestV311Connack(t *testing.T) {
	for _, tc := range []struct {
		rc   byte
		want string
	}{
		{1, `connect to 127.0.0.1:\d+: unsupported protocol version \(0x84\): the broker answered with an MQTT 3.1.1 CONNACK \(return code 1\): the broker does not speak MQTT 5: try --mqtt-version 3.1.1$`},
		{5, `connect to 127.0.0.1:\d+: not authorized \(0x87\): the broker answered with an MQTT 3.1.1 CONNACK \(return code 5\)`},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			packets.ReadPacket(bufio.NewReader(c))
			c.Write([]byte{0x20, 2, 0, tc.rc})
		}()
		st := testSettings(t, "--endpoint", ln.Addr().String())
		_, err = Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
		ln.Close()
		if err == nil {
			t.Fatal("connected")
		}
		if !matches(tc.want, err.Error()) {
			t.Errorf("return code %d: error %q, want %s", tc.rc, err, tc.want)
		}
		if k := errs.KindOf(err); k != errs.Refused {
			t.Errorf("return code %d: kind %v, want Refused", tc.rc, k)
		}
	}
}
