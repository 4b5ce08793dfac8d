package session

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/eclipse/paho.golang/packets"
)

// connectWriter encodes a CONNECT. paho's encoder writes only the
// CONNECT-specific will properties (will delay, user properties) and drops
// the message's own (message expiry, content type, payload format,
// response topic, correlation data), so the will properties are packed
// here: the PUBLISH ones plus the will delay.
type connectWriter struct{ c *packets.Connect }

func (cw connectWriter) WriteTo(w io.Writer) (int64, error) {
	c := cw.c
	var body bytes.Buffer
	putString(&body, []byte(c.ProtocolName))
	body.WriteByte(c.ProtocolVersion)
	body.WriteByte(c.PackFlags())
	_ = binary.Write(&body, binary.BigEndian, c.KeepAlive)
	putProps(&body, c.Properties.Pack(packets.CONNECT))
	putString(&body, []byte(c.ClientID))
	if c.WillFlag {
		wp := c.WillProperties
		if wp == nil {
			wp = &packets.Properties{}
		}
		msg := packets.Properties{PayloadFormat: wp.PayloadFormat, MessageExpiry: wp.MessageExpiry, ContentType: wp.ContentType,
			ResponseTopic: wp.ResponseTopic, CorrelationData: wp.CorrelationData, User: wp.User}
		delay := packets.Properties{WillDelayInterval: wp.WillDelayInterval}
		putProps(&body, append(msg.Pack(packets.PUBLISH), delay.Pack(packets.CONNECT)...))
		putString(&body, []byte(c.WillTopic))
		putString(&body, c.WillMessage)
	}
	if c.UsernameFlag {
		putString(&body, []byte(c.Username))
	}
	if c.PasswordFlag {
		putString(&body, c.Password)
	}
	var out bytes.Buffer
	out.WriteByte(packets.CONNECT << 4)
	putVBI(&out, body.Len())
	out.Write(body.Bytes())
	n, err := w.Write(out.Bytes())
	return int64(n), err
}

func putString(b *bytes.Buffer, s []byte) {
	_ = binary.Write(b, binary.BigEndian, uint16(len(s)))
	b.Write(s)
}

func putProps(b *bytes.Buffer, p []byte) {
	putVBI(b, len(p))
	b.Write(p)
}

func putVBI(b *bytes.Buffer, n int) {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b.WriteByte(d)
		if n == 0 {
			return
		}
	}
}
