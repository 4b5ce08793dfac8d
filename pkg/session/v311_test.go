package session

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
	mochi "github.com/mochi-mqtt/server/v2/packets"
)

// testRoundTrip311 sends QoS 0, 1 and 2 through a broker under MQTT 3.1.1.
func testRoundTrip311(t *testing.T, url string, pubArgs ...string) {
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			col := newCollector()
			sub := dialSession(t, Options{Handler: col.handle}, "--endpoint", url, "-V", "3.1.1")
			if v := sub.Capabilities().ProtocolVersion; v != 4 {
				t.Fatalf("protocol version %d", v)
			}
			topic := fmt.Sprintf("rt311/%d/%d", qos, time.Now().UnixNano())
			codes, err := sub.Subscribe(context.Background(), []Subscription{{Filter: topic, QoS: qos}})
			if err != nil || len(codes) != 1 || codes[0] != qos {
				t.Fatalf("subscribe: %v %v", codes, err)
			}
			pub := dialSession(t, Options{}, append([]string{"--endpoint", url, "--mqtt-version", "mqttv311"}, pubArgs...)...)
			for i := 0; i < 50; i++ {
				if err := pub.Publish(context.Background(), &Message{Topic: topic, Payload: []byte(fmt.Sprint(i)), QoS: qos}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Flush(context.Background()); err != nil || pub.Unacked() != 0 {
				t.Fatalf("flush: %v, unacked %d", err, pub.Unacked())
			}
			got := col.wait(t, 50, 10*time.Second)
			for i, m := range got {
				if m.Topic != topic || string(m.Payload) != fmt.Sprint(i) || m.QoS != qos {
					t.Fatalf("message %d: %+v", i, m)
				}
			}
			if err := sub.Unsubscribe(context.Background(), topic); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRoundTrip311Embedded(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	testRoundTrip311(t, b.URL(broker.MQTT))
}

// mosquitto logs the protocol of each client: p2 is MQTT 3.1.1, p5 MQTT 5.
// The publisher keeps at most mosquitto's max_inflight_messages (20) in
// flight: mosquitto refuses a QoS 2 message over that quota with PUBREC
// 0x97, which MQTT 3.1.1 cannot carry, so a 3.1.1 client sees success and
// the message is gone (50 sent, 20 delivered, with the default --inflight).
func TestRoundTrip311Mosquitto(t *testing.T) {
	m := testpeer.StartMosquitto(t, testpeer.MosquittoConfig{})
	testRoundTrip311(t, m.URL(), "--inflight", "20")
	if log := m.Log(); !strings.Contains(log, "(p2, c1, k60") || strings.Contains(log, "(p5,") {
		t.Fatalf("mosquitto did not see MQTT 3.1.1 clients only:\n%s", log)
	}
}

// A refused subscription is return code 0x80, a ReasonError.
func TestSubscribeRefused311(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	s := dialSession(t, Options{}, "--endpoint", b.URL(broker.MQTT), "-V", "311")
	codes, err := s.Subscribe(context.Background(), []Subscription{{Filter: "ok", QoS: 1}, {Filter: "$share/g", QoS: 1}})
	if errs.KindOf(err) != errs.Refused || len(codes) != 2 || codes[0] != 1 || codes[1] != 0x80 {
		t.Fatalf("codes %v, err %v", codes, err)
	}
}

// What MQTT 3.1.1 cannot carry is a usage error naming the setting, never
// dropped: connection settings before connecting, message properties and
// subscription options at the call.
func TestMQTT5OnlyRefused311(t *testing.T) {
	for flag, args := range map[string][]string{
		"--session-expiry":        {"--session-expiry", "60"},
		"--receive-maximum":       {"--receive-maximum", "10"},
		"--max-packet-size":       {"--max-packet-size", "1000"},
		"--connect-property":      {"--connect-property", "a=b"},
		"--request-response-info": {"--request-response-info"},
		"--will-delay":            {"--will-topic", "w", "--will-delay", "5"},
		"--will-expiry":           {"--will-topic", "w", "--will-expiry", "5"},
		"--will-content-type":     {"--will-topic", "w", "--will-content-type", "x"},
		"--will-property":         {"--will-topic", "w", "--will-property", "a=b"},
	} {
		// Nothing listens: the error must come before dialing.
		st := testenv.Settings(t, append([]string{"--endpoint", "127.0.0.1:1", "-V", "3.1.1"}, args...)...)
		_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), flag) || !strings.Contains(err.Error(), "3.1.1") {
			t.Errorf("%s: %v", flag, err)
		}
	}
	b := testenv.StartBroker(t, broker.Options{})
	s := dialSession(t, Options{}, "--endpoint", b.URL(broker.MQTT), "-V", "3.1.1")
	for flag, p := range map[string]Properties{
		"--user-property":    {UserProperties: []UserProperty{{"a", "b"}}},
		"--content-type":     {ContentType: "x"},
		"--response-topic":   {ResponseTopic: "r"},
		"--correlation-data": {CorrelationData: []byte{1}},
		"--message-expiry":   {MessageExpiry: ptr(uint32(1))},
		"--payload-format":   {PayloadFormat: ptr(byte(1))},
	} {
		err := s.Publish(context.Background(), &Message{Topic: "t", QoS: 1, Props: p}, nil)
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v", flag, err)
		}
	}
	for flag, sub := range map[string]Subscription{
		"--no-local":            {NoLocal: true},
		"--retain-as-published": {RetainAsPublished: true},
		"--retain-handling":     {RetainHandling: 2},
		"--subscription-id":     {ID: 3},
	} {
		sub.Filter = "t"
		_, err := s.Subscribe(context.Background(), []Subscription{sub})
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v", flag, err)
		}
	}
}

// fake311 reads one MQTT 3.1.1 packet with mochi's decoder.
func read311(r *bufio.Reader) (mochi.Packet, error) {
	pk := mochi.Packet{ProtocolVersion: 4}
	b0, err := r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b0); err != nil {
		return pk, err
	}
	n, mult := 0, 1
	for {
		b, err := r.ReadByte()
		if err != nil {
			return pk, err
		}
		n += int(b&0x7F) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case mochi.Connect:
		err = pk.ConnectDecode(body)
		if err == nil && (pk.ProtocolVersion != 4 || string(pk.Connect.ProtocolName) != "MQTT") {
			err = fmt.Errorf("CONNECT %q level %d", pk.Connect.ProtocolName, pk.ProtocolVersion)
		}
	case mochi.Publish:
		err = pk.PublishDecode(body)
	case mochi.Puback, mochi.Pubrec, mochi.Pubrel, mochi.Pubcomp:
		if n != 2 {
			err = fmt.Errorf("acknowledgement of %d bytes", n)
		}
		pk.PacketID = uint16(body[0])<<8 | uint16(body[1])
	case mochi.Subscribe:
		err = pk.SubscribeDecode(body)
	case mochi.Disconnect:
		if n != 0 {
			err = fmt.Errorf("DISCONNECT of %d bytes", n)
		}
	}
	return pk, err
}

func write311(t *testing.T, c net.Conn, pk mochi.Packet) {
	pk.ProtocolVersion = 4
	var b bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case mochi.Connack:
		err = pk.ConnackEncode(&b)
	case mochi.Puback:
		err = pk.PubackEncode(&b)
	case mochi.Pubrec:
		err = pk.PubrecEncode(&b)
	case mochi.Pubcomp:
		err = pk.PubcompEncode(&b)
	case mochi.Suback:
		err = pk.SubackEncode(&b)
	}
	if err != nil {
		t.Error(err)
	}
	c.Write(b.Bytes())
}

// serve311 serves connections to 127.0.0.1 one after the other with an
// MQTT 3.1.1 fake broker: it checks the CONNECT is level 4, answers
// CONNACK with the return code and session present script returns for
// it, and hands the connection on.
func serve311(t *testing.T, n int, connack func(conn int, pk mochi.Packet) (code byte, present bool), script func(conn int, c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for conn := 0; conn < n; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			pk, err := read311(r)
			if err != nil {
				t.Errorf("CONNECT: %v", err)
				c.Close()
				return
			}
			code, present := connack(conn, pk)
			write311(t, c, mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Connack}, ReasonCode: code, SessionPresent: present})
			script(conn, c, r)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// CONNACK return codes 1-5 are refusals named by their MQTT 3.1.1 code,
// exit 4 (Refused).
func TestConnackReturnCodes311(t *testing.T) {
	for code, want := range map[byte]string{
		1: "unsupported protocol version (MQTT 3.1.1 return code 1): the broker does not speak MQTT 3.1.1",
		2: "client identifier not valid (MQTT 3.1.1 return code 2)",
		3: "server unavailable (MQTT 3.1.1 return code 3)",
		4: "bad user name or password (MQTT 3.1.1 return code 4): check the credentials",
		5: "not authorized (MQTT 3.1.1 return code 5)",
	} {
		addr := serve311(t, 1, func(int, mochi.Packet) (byte, bool) { return code, false }, func(int, net.Conn, *bufio.Reader) {})
		st := testenv.Settings(t, "--endpoint", addr, "-V", "3.1.1", "--connect-timeout", "5s")
		_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
		if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), want) {
			t.Errorf("return code %d: %v (kind %v)", code, err, errs.KindOf(err))
		}
	}
	addr := serve311(t, 1, func(int, mochi.Packet) (byte, bool) { return 6, false }, func(int, net.Conn, *bufio.Reader) {})
	st := testenv.Settings(t, "--endpoint", addr, "-V", "3.1.1", "--connect-timeout", "5s")
	_, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if _, ok := err.(*ProtocolError); !ok || !strings.Contains(err.Error(), "return code 6") {
		t.Errorf("return code 6: %v", err)
	}
}

// Under MQTT 3.1.1 with --clean-start=false, a reconnect whose CONNACK says
// session present sends the unacknowledged messages again with DUP, and a
// QoS 2 message past PUBREC its PUBREL; Clean Session is the flag sent.
func TestResendWithDupOnSessionPresent311(t *testing.T) {
	got := make(chan string, 16)
	addr := serve311(t, 2, func(conn int, pk mochi.Packet) (byte, bool) {
		if pk.Connect.Clean {
			got <- "clean session"
		}
		return 0, conn == 1
	}, func(conn int, c net.Conn, r *bufio.Reader) {
		if conn == 0 {
			p1, err1 := read311(r) // QoS 1: never acked
			p2, err2 := read311(r) // QoS 2: PUBREC only
			if err1 != nil || err2 != nil || p1.FixedHeader.Dup || p2.FixedHeader.Qos != 2 {
				t.Errorf("first connection: %v %v %+v", err1, err2, p1.FixedHeader)
				return
			}
			write311(t, c, mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Pubrec}, PacketID: p2.PacketID})
			if pk, err := read311(r); err != nil || pk.FixedHeader.Type != mochi.Pubrel {
				t.Errorf("no PUBREL: %v", err)
			}
			return
		}
		for i := 0; i < 2; i++ {
			pk, err := read311(r)
			if err != nil {
				t.Errorf("second connection: %v", err)
				return
			}
			switch pk.FixedHeader.Type {
			case mochi.Publish:
				got <- fmt.Sprintf("publish %s dup=%t", pk.Payload, pk.FixedHeader.Dup)
				write311(t, c, mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Puback}, PacketID: pk.PacketID})
			case mochi.Pubrel:
				got <- "pubrel"
				write311(t, c, mochi.Packet{FixedHeader: mochi.FixedHeader{Type: mochi.Pubcomp}, PacketID: pk.PacketID})
			}
		}
		if pk, err := read311(r); err != nil || pk.FixedHeader.Type != mochi.Disconnect {
			t.Errorf("no DISCONNECT: %v", err)
		}
	})
	s := dialSession(t, Options{Reconnect: true}, "--endpoint", addr, "--client-id", "dup", "-V", "3.1.1", "--clean-start=false")
	s.Publish(context.Background(), &Message{Topic: "a", Payload: []byte("1"), QoS: 1}, nil)
	s.Publish(context.Background(), &Message{Topic: "a", Payload: []byte("2"), QoS: 2}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{<-got: true, <-got: true}
	if !seen["publish 1 dup=true"] || !seen["pubrel"] {
		t.Fatalf("resent %v", seen)
	}
	if err := s.Close(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		t.Fatalf("unexpected %q", g)
	default:
	}
}

// BenchmarkRarePackets compares the cost of the rare packets through
// mochi's packets (MQTT 3.1.1) with paho's (MQTT 5): once per connection
// or per SUBSCRIBE, never per message.
func BenchmarkRarePackets(b *testing.B) {
	sub := func() *packets.ControlPacket {
		cp := packets.NewControlPacket(packets.SUBSCRIBE)
		sp := cp.Content.(*packets.Subscribe)
		sp.PacketID = 7
		sp.Subscriptions = []packets.SubOptions{{Topic: "sensors/+/temp", QoS: 1}}
		return cp
	}()
	connect := packets.NewControlPacket(packets.CONNECT)
	connect.Content.(*packets.Connect).ClientID = "iotctl-0123456789ab"
	connect.Content.(*packets.Connect).KeepAlive = 60
	suback := []byte{0, 7, 1}
	suback5 := []byte{0, 7, 0, 1}
	for _, v := range []string{"5", "3.1.1"} {
		b.Run("CONNECT/"+v, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v == "5" {
					connectWriter{connect.Content.(*packets.Connect)}.WriteTo(io.Discard)
				} else {
					writer311{connect}.WriteTo(io.Discard)
				}
			}
		})
		b.Run("SUBSCRIBE/"+v, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v == "5" {
					sub.WriteTo(io.Discard)
				} else {
					writer311{sub}.WriteTo(io.Discard)
				}
			}
		})
		b.Run("SUBACK/"+v, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v == "5" {
					frame{b0: packets.SUBACK << 4, body: suback5}.decode()
				} else {
					frame{b0: packets.SUBACK << 4, body: suback, v311: true}.decode()
				}
			}
		})
	}
}

// The CONNECT of 3.1.1 carries the will, the credentials and Clean Session
// as mochi's decoder reads them (protocol level 4 checked by read311).
func TestConnectPacket311(t *testing.T) {
	got := make(chan mochi.Packet, 1)
	addr := serve311(t, 1, func(_ int, pk mochi.Packet) (byte, bool) { got <- pk; return 0, false }, func(_ int, _ net.Conn, r *bufio.Reader) {
		read311(r) // DISCONNECT
	})
	s := dialSession(t, Options{}, "--endpoint", addr, "-V", "3.1.1", "--client-id", "c311", "--username", "u", "--password", "p",
		"--keepalive", "30", "--will-topic", "w/t", "--will-message", "gone", "--will-qos", "1", "--will-retain")
	pk := <-got
	c := pk.Connect
	if c.ClientIdentifier != "c311" || string(c.Username) != "u" || string(c.Password) != "p" || c.Keepalive != 30 || !c.Clean ||
		!c.WillFlag || c.WillTopic != "w/t" || string(c.WillPayload) != "gone" || c.WillQos != 1 || !c.WillRetain {
		t.Fatalf("CONNECT %+v", c)
	}
	if v := s.Capabilities(); v.ProtocolVersion != 4 || v.ReceiveMaximum != 1000 {
		t.Fatalf("capabilities %+v", v)
	}
}

// What a 3.1.1 broker must not send is a protocol violation.
func TestViolations311(t *testing.T) {
	for name, f := range map[string]frame{
		"DISCONNECT":      {b0: packets.DISCONNECT << 4, v311: true},
		"AUTH":            {b0: packets.AUTH << 4, v311: true},
		"PUBACK reason":   {b0: packets.PUBACK << 4, body: []byte{0, 1, 0x80}, v311: true},
		"SUBACK code 3":   {b0: packets.SUBACK << 4, body: []byte{0, 1, 3}, v311: true},
		"UNSUBACK codes":  {b0: packets.UNSUBACK << 4, body: []byte{0, 1, 0}, v311: true},
		"CONNACK long":    {b0: packets.CONNACK << 4, body: []byte{0, 0, 0}, v311: true},
		"CONNACK flags":   {b0: packets.CONNACK << 4, body: []byte{2, 0}, v311: true},
		"CONNACK code 42": {b0: packets.CONNACK << 4, body: []byte{0, 42}, v311: true},
	} {
		err := checkFlags(f)
		if err == nil {
			switch f.typ() {
			case packets.PUBACK:
				_, _, _, err = ackFields(f)
			default:
				_, err = f.decode()
			}
		}
		if _, ok := err.(*violation); !ok {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A 3.1.1 PUBLISH has no property length: the payload follows the ID.
	f := frame{b0: packets.PUBLISH<<4 | 2, body: []byte{0, 1, 't', 0, 9, 0, 'x'}, v311: true}
	if err := checkPublish(f); err != nil {
		t.Fatal(err)
	}
	p, payload, err := f.decodePublish(nil)
	if err != nil || p.Topic != "t" || p.PacketID != 9 || string(payload) != "\x00x" {
		t.Fatalf("%+v %q %v", p, payload, err)
	}
}

// A reconnect under 3.1.1 keeps the Clean Session asked for: Clean Session
// 0 would make the broker keep the session of a client ID for ever.
func TestReconnectCleanSession311(t *testing.T) {
	clean := make(chan bool, 2)
	addr := serve311(t, 2, func(_ int, pk mochi.Packet) (byte, bool) { clean <- pk.Connect.Clean; return 0, false }, func(conn int, _ net.Conn, r *bufio.Reader) {
		if conn == 1 {
			read311(r) // DISCONNECT
		}
	})
	dialSession(t, Options{Reconnect: true}, "--endpoint", addr, "-V", "3.1.1")
	for i := range 2 {
		select {
		case c := <-clean:
			if !c {
				t.Fatalf("CONNECT %d: Clean Session 0", i+1)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no CONNECT %d", i+1)
		}
	}
}

// A CONNACK saying session present to a clean connect (Clean Session 1)
// breaks [MQTT-3.2.2-1]: taken at its word, the session would skip
// resubscribing after a reconnect and drop new QoS 2 messages whose packet
// IDs it still remembers. It is a protocol violation, exit 3.
func TestSessionPresentAfterCleanConnect311(t *testing.T) {
	addr := serve311(t, 1, func(int, mochi.Packet) (byte, bool) { return 0, true }, func(int, net.Conn, *bufio.Reader) {})
	st := testenv.Settings(t, "--endpoint", addr, "-V", "3.1.1", "--connect-timeout", "5s")
	s, err := Connect(context.Background(), Options{Settings: st, Provider: testProvider(t, st)})
	if err == nil {
		_ = s.Close(context.Background(), 0)
	}
	if _, ok := err.(*ProtocolError); !ok || errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "session present") {
		t.Errorf("session present after a clean connect: %v", err)
	}
}

// A refused 3.1.1 subscription (return code 0x80, which carries no reason)
// is named as such, not as MQTT 5's "unspecified error", with what to check.
func TestSubscribeRefusedMessage311(t *testing.T) {
	b := testenv.StartBroker(t, broker.Options{})
	s := dialSession(t, Options{}, "--endpoint", b.URL(broker.MQTT), "-V", "3.1.1")
	_, err := s.Subscribe(context.Background(), []Subscription{{Filter: "$share/g", QoS: 1}})
	want := `subscribe to $share/g: refused (MQTT 3.1.1 return code 0x80, which gives no reason): check the filter and the broker's authorization rules (AWS IoT: iot:Subscribe on the filter)`
	if errs.KindOf(err) != errs.Refused || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// A SUBACK with more or fewer return codes than the SUBSCRIBE had filters
// is a protocol violation by the broker (exit 3), not an unexpected error.
func TestSubackCount311(t *testing.T) {
	for name, codes := range map[string][]byte{"none": {}, "two for one": {1, 1}} {
		addr := serve311(t, 1, func(int, mochi.Packet) (byte, bool) { return 0, false }, func(_ int, c net.Conn, r *bufio.Reader) {
			pk, err := read311(r)
			if err != nil {
				return
			}
			_, _ = c.Write(append([]byte{0x90, byte(2 + len(codes)), byte(pk.PacketID >> 8), byte(pk.PacketID)}, codes...))
			_, _ = read311(r) // until the client leaves
		})
		s := dialSession(t, Options{}, "--endpoint", addr, "-V", "3.1.1")
		_, err := s.Subscribe(context.Background(), []Subscription{{Filter: "a", QoS: 1}})
		if _, ok := err.(*ProtocolError); !ok || errs.KindOf(err) != errs.Connect || !strings.Contains(err.Error(), "SUBACK") {
			t.Errorf("%s: %v (kind %v)", name, err, errs.KindOf(err))
		}
	}
}

// Under 3.1.1 the keepalive is the CONNECT's and PINGREQ keeps an idle
// connection open: the broker answers PINGRESP and sees PINGREQs go on.
func TestKeepalive311(t *testing.T) {
	keepalive := make(chan uint16, 1)
	pings := make(chan struct{}, 16)
	addr := serve311(t, 1, func(_ int, pk mochi.Packet) (byte, bool) { keepalive <- pk.Connect.Keepalive; return 0, false }, func(_ int, c net.Conn, r *bufio.Reader) {
		for {
			pk, err := read311(r)
			if err != nil {
				return
			}
			switch pk.FixedHeader.Type {
			case mochi.Pingreq:
				c.Write([]byte{mochi.Pingresp << 4, 0})
				pings <- struct{}{}
			case mochi.Disconnect:
				return
			}
		}
	})
	s := dialSession(t, Options{}, "--endpoint", addr, "-V", "3.1.1", "--keepalive", "1")
	if k := <-keepalive; k != 1 {
		t.Fatalf("CONNECT keepalive %d, want 1", k)
	}
	for i := range 3 {
		select {
		case <-pings:
		case <-time.After(20 * time.Second):
			t.Fatalf("PINGREQ %d did not come", i+1)
		}
	}
	select {
	case <-s.Done():
		t.Fatalf("the session ended: %v", s.Err())
	default:
	}
}
