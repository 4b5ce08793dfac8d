package session

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// TestConnectWriter: the CONNECT reads back as written, will properties
// included (paho's own encoder drops the will's message properties).
func TestConnectWriter(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	one := byte(1)
	for _, will := range []bool{false, true} {
		cp := packets.NewControlPacket(packets.CONNECT)
		c := cp.Content.(*packets.Connect)
		c.ClientID, c.CleanStart, c.KeepAlive = "cw", true, 30
		c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = true, "u", true, []byte("p")
		c.Properties = &packets.Properties{SessionExpiryInterval: u32(60), RequestResponseInfo: &one,
			User: []packets.User{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}}
		if will {
			c.WillFlag, c.WillTopic, c.WillMessage, c.WillQOS, c.WillRetain = true, "w/t", []byte("bye"), 1, true
			c.WillProperties = &packets.Properties{WillDelayInterval: u32(5), MessageExpiry: u32(3600), ContentType: "text/plain",
				PayloadFormat: &one, ResponseTopic: "r/t", CorrelationData: []byte{1, 2},
				User: []packets.User{{Key: "why", Value: "test"}}}
		}
		var buf bytes.Buffer
		if _, err := (connectWriter{c}).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		got, err := packets.ReadPacket(&buf)
		if err != nil {
			t.Fatalf("will %t: %v", will, err)
		}
		if g := got.Content.(*packets.Connect); !reflect.DeepEqual(g, c) {
			t.Errorf("will %t: read back\n%+v\nwant\n%+v\nwill properties %+v, want %+v", will, g, c, g.WillProperties, c.WillProperties)
		}
	}
}
