package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connectWait bounds the time from accept to a complete CONNECT (TLS
// handshake and websocket upgrade included).
const connectWait = 10 * time.Second

// finalWait bounds the last write (DISCONNECT) to a client.
const finalWait = time.Second

// conn serves one network connection: a reader (this goroutine) that
// handles what the client sends, and a writer that sends control packets
// and the session's deliveries in batches.
type conn struct {
	srv      *server
	nc       net.Conn
	br       *bufio.Reader
	cl       *Client
	sess     *session
	version  byte
	listener string

	recvMax   int    // client's Receive Maximum: our QoS 1/2 window
	maxOut    uint32 // client's Maximum Packet Size, 0: none
	problem   bool   // client wants reason strings and user properties
	keepalive time.Duration
	aliases   map[uint16]string
	will      *message
	willDelay uint32
	normalEnd bool // DISCONNECT 0x00: the will is not sent

	mu       sync.Mutex
	ctrl     []packets.Packet
	final    *packets.Packet // DISCONNECT to send, then close
	closing  bool
	attached bool // attach gave it its session: CONNACK and the writer follow
	writing  bool // the writer runs
	resend   bool // the writer resends the flight first
	stopErr  error
	stopOnce sync.Once

	wake       chan struct{}
	stopped    chan struct{}
	writerDone chan struct{}
	done       chan struct{}
}

func newConn(s *server, nc net.Conn, listener string) *conn {
	c := &conn{
		srv: s, nc: nc, br: bufio.NewReaderSize(nc, 16<<10), listener: listener,
		wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		writerDone: make(chan struct{}), done: make(chan struct{}),
	}
	c.cl = &Client{Net: ClientNet{Conn: nc, Remote: nc.RemoteAddr().String(), Listener: listener}, c: c}
	return c
}

// protocolError is a violation by the client: DISCONNECT with its code.
type protocolError struct {
	code packets.Code
	why  string
}

func (e *protocolError) Error() string { return e.why }

func violation(code packets.Code, format string, a ...any) error {
	return &protocolError{code, fmt.Sprintf(format, a...)}
}

// run serves the connection until it ends and returns why it ended.
func (c *conn) run() error {
	defer close(c.done)
	defer c.nc.Close()
	_ = c.nc.SetReadDeadline(time.Now().Add(connectWait))
	pk, err := c.readConnect()
	if err != nil {
		c.stop(err)
		return err
	}
	if err := c.connect(pk); err != nil {
		c.stop(err)
		return err
	}
	err = c.readLoop()
	var pe *protocolError
	if errors.As(err, &pe) {
		// Let the writer send the DISCONNECT before the connection
		// closes: disconnect bounds its write by finalWait.
		c.disconnect(pe.code)
		t := time.NewTimer(2 * finalWait)
		select {
		case <-c.writerDone:
		case <-t.C:
		}
		t.Stop()
	}
	c.stop(err)
	<-c.writerDone
	c.mu.Lock()
	why := c.stopErr
	c.mu.Unlock()
	if pe != nil {
		why = pe // the violation, not just its code
	}
	var will *message
	if !c.normalEnd {
		will = c.will
	}
	expire := c.srv.detach(c, c.sess, will, c.willDelay)
	for _, h := range c.srv.hooks.with(OnDisconnect) {
		h.OnDisconnect(c.cl, why, expire)
	}
	return why
}

// stop ends the connection at once (no DISCONNECT).
func (c *conn) stop(err error) {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopErr = err
		c.closing = true
		c.mu.Unlock()
		close(c.stopped)
		closeHard(c.nc)
	})
}

// closeHard closes the innermost connection first: closing a TLS or
// websocket connection politely writes a close_notify or close frame, which
// waits (up to 5 s for TLS) on a client that stopped reading.
func closeHard(nc net.Conn) {
	inner := nc
	for {
		u, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		next := u.NetConn()
		if next == nil || next == inner {
			break
		}
		inner = next
	}
	if inner != nc {
		inner.Close()
	}
	nc.Close()
}

// disconnect sends DISCONNECT with code (MQTT 5; MQTT 3 has none) after
// what is queued for writing, then closes. It never blocks: a client that
// does not read gets finalWait. A connection with its session but whose
// writer has not started yet (it is sending the CONNACK) gets the
// DISCONNECT right after the CONNACK: a takeover in that moment closed it
// without one, and a client that reconnects took the session back.
func (c *conn) disconnect(code packets.Code) {
	c.mu.Lock()
	if c.closing || !(c.writing || c.attached) || c.version < 5 {
		c.mu.Unlock()
		c.stop(code)
		return
	}
	c.closing = true
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: code.Code,
		Properties: packets.Properties{ReasonString: reasonString(code)}}
	c.final = &pk
	_ = c.nc.SetWriteDeadline(time.Now().Add(finalWait))
	c.mu.Unlock()
	c.wakeWriter()
}

// reasonString is a code's reason string, "" for mochi's stock texts that
// only repeat the code's name.
func reasonString(code packets.Code) string {
	return code.Reason
}

func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send queues a control packet for the writer.
func (c *conn) send(pk packets.Packet) {
	pk.ProtocolVersion = c.version
	for _, h := range c.srv.hooks.with(OnPacketEncode) {
		pk = h.OnPacketEncode(c.cl, pk)
	}
	c.mu.Lock()
	if !c.closing {
		c.ctrl = append(c.ctrl, pk)
	}
	c.mu.Unlock()
	c.wakeWriter()
}

// readPacket reads one packet of at most limit bytes. The body grows as
// bytes arrive, so a header announcing a large packet costs nothing until
// the bytes come.
func (c *conn) readPacket(limit uint32) (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := c.br.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, violation(packets.ErrMalformedPacket, "packet type %d: %v", b>>4, err)
	}
	n, err := decodeLength(c.br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fh, nil, err
		}
		return fh, nil, violation(packets.ErrMalformedPacket, "%s: bad remaining length", packets.PacketNames[fh.Type])
	}
	fh.Remaining = n
	// The limit counts the whole packet: header byte and length bytes.
	if uint64(1+varLen(n)+n) > uint64(limit) {
		return fh, nil, violation(packets.ErrPacketTooLarge, "%s of %d bytes: the limit is %d", packets.PacketNames[fh.Type], n, limit)
	}
	const step = 64 << 10
	if n <= step {
		body := make([]byte, n)
		_, err = io.ReadFull(c.br, body)
		return fh, body, err
	}
	body := make([]byte, 0, step)
	for len(body) < n {
		k := min(n-len(body), max(step, len(body)))
		body = append(body, make([]byte, k)...)
		if _, err := io.ReadFull(c.br, body[len(body)-k:]); err != nil {
			return fh, nil, err
		}
	}
	return fh, body, nil
}

// decodeLength reads a remaining length: at most 4 bytes [MQTT-1.5.5]
// (the codec's DecodeLength takes a fifth byte of 0, and any number of
// 0x80 bytes, as valid).
func decodeLength(r io.ByteReader) (int, error) {
	n := 0
	for i := range 4 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n |= int(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			return n, nil
		}
	}
	return 0, packets.ErrMalformedVariableByteInteger
}

func varLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// decode decodes a body; the codec's panics on malformed input become
// errors.
func decode(pk *packets.Packet, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed %s", packets.PacketNames[pk.FixedHeader.Type])
		}
	}()
	switch pk.FixedHeader.Type {
	case packets.Connect:
		return pk.ConnectDecode(body)
	case packets.Publish:
		return pk.PublishDecode(body)
	case packets.Puback:
		return pk.PubackDecode(body)
	case packets.Pubrec:
		return pk.PubrecDecode(body)
	case packets.Pubrel:
		return pk.PubrelDecode(body)
	case packets.Pubcomp:
		return pk.PubcompDecode(body)
	case packets.Subscribe:
		return pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		return pk.UnsubscribeDecode(body)
	case packets.Pingreq:
		return nil
	case packets.Disconnect:
		return pk.DisconnectDecode(body)
	case packets.Auth:
		return pk.AuthDecode(body)
	}
	return fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
}

// readConnect reads and checks the CONNECT.
func (c *conn) readConnect() (packets.Packet, error) {
	fh, body, err := c.readPacket(c.srv.caps.MaximumConnectSize)
	if err != nil {
		return packets.Packet{}, err
	}
	if fh.Type != packets.Connect {
		return packets.Packet{}, fmt.Errorf("first packet is %s, not CONNECT", packets.PacketNames[fh.Type])
	}
	pk := packets.Packet{FixedHeader: fh}
	if err := decode(&pk, body); err != nil {
		c.version = pk.ProtocolVersion
		c.connack(packets.ErrMalformedPacket, false, nil)
		return pk, fmt.Errorf("CONNECT: %w", err)
	}
	c.version = pk.ProtocolVersion
	code := pk.ConnectValidate()
	if code == packets.ErrProtocolViolationWillFlagNoPayload && pk.Connect.WillTopic != "" {
		// mochi refuses an empty Will Message, which MQTT allows (present,
		// of length 0): validate the rest as if it had a byte.
		p := pk
		p.Connect.WillPayload = []byte{0}
		code = p.ConnectValidate()
	}
	if code != packets.CodeSuccess {
		if code == packets.ErrProtocolViolationProtocolVersion || code == packets.ErrProtocolViolationProtocolName {
			code = packets.ErrUnsupportedProtocolVersion
		}
		c.connack(code, false, nil)
		return pk, code
	}
	return pk, nil
}

// connack writes a CONNACK directly (before the writer runs).
func (c *conn) connack(code packets.Code, present bool, props *packets.Properties) {
	rc := code.Code
	if c.version < 5 && rc >= 0x80 {
		v3, ok := v3Connack[rc]
		if !ok {
			v3 = 0x05 // not authorized: a refusal never reads as success
		}
		rc = v3
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: rc,
		SessionPresent: present, ProtocolVersion: c.version}
	if props != nil {
		pk.Properties = *props
	} else if c.version == 5 && code.Code >= 0x80 {
		pk.Properties.ReasonString = code.Reason
	}
	for _, h := range c.srv.hooks.with(OnPacketEncode) {
		pk = h.OnPacketEncode(c.cl, pk)
	}
	if c.version < 5 {
		pk.Properties = packets.Properties{}
	}
	var buf bytes.Buffer
	_ = pk.ConnackEncode(&buf)
	_ = c.nc.SetWriteDeadline(time.Now().Add(finalWait + c.srv.caps.WriteTimeout/10))
	_, _ = c.nc.Write(buf.Bytes())
}

// v3Connack maps MQTT 5 CONNACK reason codes to MQTT 3.1.1 return codes.
var v3Connack = map[byte]byte{
	0x84: 0x01, // unsupported protocol version
	0x85: 0x02, // client identifier not valid
	0x88: 0x03, // server unavailable
	0x89: 0x03, // server busy
	0x8B: 0x03, // server shutting down
	0x86: 0x04, // bad user name or password
	0x87: 0x05, // not authorized
	0x8C: 0x04, // bad authentication method
}

// connect authenticates the client, attaches its session and answers
// CONNACK; then the writer starts.
func (c *conn) connect(pk packets.Packet) error {
	s := c.srv
	caps := s.caps
	id := pk.Connect.ClientIdentifier
	assigned := ""
	if id == "" {
		if c.version < 5 && !pk.Connect.Clean {
			c.connack(packets.ErrClientIdentifierNotValid, false, nil) // [MQTT-3.1.3-8]
			return packets.ErrClientIdentifierNotValid
		}
		id = "auto-" + uuid.NewString()
		assigned = id
	}
	c.cl.ID = id
	c.cl.Properties = ClientProperties{ProtocolVersion: c.version, Username: pk.Connect.Username,
		Clean: pk.Connect.Clean, Keepalive: pk.Connect.Keepalive}
	p := pk.Properties
	if c.version == 5 && p.AuthenticationMethod != "" {
		c.connack(packets.ErrBadAuthenticationMethod, false, nil)
		return packets.ErrBadAuthenticationMethod
	}
	for _, h := range s.hooks.with(OnConnect) {
		if err := h.OnConnect(c.cl, pk); err != nil {
			var code packets.Code
			if !errors.As(err, &code) || code.Code < 0x80 {
				code = packets.ErrNotAuthorized
			}
			c.connack(code, false, nil)
			return err
		}
	}
	for _, h := range s.hooks.with(OnConnectAuthenticate) {
		if !h.OnConnectAuthenticate(c.cl, pk) {
			c.connack(packets.ErrBadUsernameOrPassword, false, nil)
			return packets.ErrBadUsernameOrPassword
		}
	}
	if pk.Connect.WillFlag {
		if pk.Connect.WillQos > caps.MaximumQoS || (pk.Connect.WillRetain && caps.NoRetain) || !validTopic(pk.Connect.WillTopic) {
			code := packets.ErrQosNotSupported
			if !validTopic(pk.Connect.WillTopic) {
				code = packets.ErrTopicNameInvalid
			} else if pk.Connect.WillRetain && caps.NoRetain {
				code = packets.ErrRetainNotSupported
			}
			c.connack(code, false, nil)
			return code
		}
		wp := pk.Connect.WillProperties
		c.will = &message{topic: pk.Connect.WillTopic, payload: pk.Connect.WillPayload, qos: pk.Connect.WillQos,
			retain: pk.Connect.WillRetain, origin: id, props: forwardProps(wp)}
		c.will.expiry = s.messageExpiry(wp.MessageExpiryInterval, time.Now())
		c.willDelay = wp.WillDelayInterval
	}

	c.recvMax = 65535
	if c.version == 5 && p.ReceiveMaximum > 0 {
		c.recvMax = int(p.ReceiveMaximum)
	}
	c.maxOut = p.MaximumPacketSize
	c.problem = p.RequestProblemInfo == 1 || !p.RequestProblemInfoFlag
	c.keepalive = time.Duration(pk.Connect.Keepalive) * time.Second
	expiry := p.SessionExpiryInterval
	if c.version < 5 {
		expiry = 0
		if !pk.Connect.Clean {
			expiry = math.MaxUint32
		}
	}
	if caps.MaximumSessionExpiry > 0 {
		expiry = min(expiry, caps.MaximumSessionExpiry)
	}

	ss, present, err := s.attach(c, pk.Connect.Clean)
	if err != nil {
		var code packets.Code
		if !errors.As(err, &code) {
			code = packets.ErrServerUnavailable
		}
		c.connack(code, false, nil)
		return err
	}
	c.sess = ss
	ss.mu.Lock()
	ss.expiry = expiry
	ss.trimFlight(c.recvMax)
	c.resend = len(ss.flight) > 0
	ss.mu.Unlock()

	ack := packets.Properties{}
	if c.version == 5 {
		ack.ReceiveMaximum = caps.ReceiveMaximum
		ack.TopicAliasMaximum = caps.TopicAliasMaximum
		ack.MaximumPacketSize = caps.MaximumPacketSize
		ack.MaximumQos, ack.MaximumQosFlag = caps.MaximumQoS, true
		ack.AssignedClientID = assigned
		if p.SessionExpiryIntervalFlag && expiry != p.SessionExpiryInterval {
			ack.SessionExpiryInterval, ack.SessionExpiryIntervalFlag = expiry, true
		}
		if caps.NoRetain {
			ack.RetainAvailable, ack.RetainAvailableFlag = 0, true
		}
		if caps.NoWildcards {
			ack.WildcardSubAvailable, ack.WildcardSubAvailableFlag = 0, true
		}
		if caps.NoSubscriptionIDs {
			ack.SubIDAvailable, ack.SubIDAvailableFlag = 0, true
		}
		if caps.NoShared {
			ack.SharedSubAvailable, ack.SharedSubAvailableFlag = 0, true
		}
	}
	c.connack(packets.CodeSuccess, present, &ack)
	c.mu.Lock()
	c.writing = true
	c.mu.Unlock()
	go c.writer()
	for _, h := range s.hooks.with(OnSessionEstablished) {
		h.OnSessionEstablished(c.cl, pk)
	}
	c.wakeWriter() // the kept flight and queue
	return nil
}

// messageExpiry is when a message with this expiry interval expires.
func (s *server) messageExpiry(interval uint32, now time.Time) time.Time {
	if m := s.caps.MaximumMessageExpiry; m > 0 && (interval == 0 || interval > m) {
		interval = m
	}
	if interval == 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(interval) * time.Second)
}

// forwardProps are the PUBLISH properties a broker forwards unchanged.
func forwardProps(p packets.Properties) packets.Properties {
	return packets.Properties{
		PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
		ContentType: p.ContentType, ResponseTopic: p.ResponseTopic,
		CorrelationData: p.CorrelationData, User: p.User,
	}
}

// readLoop handles packets until the connection ends.
func (c *conn) readLoop() error {
	for {
		if c.keepalive > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.keepalive * 3 / 2)) // [MQTT-3.1.2-22]
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		fh, body, err := c.readPacket(c.srv.caps.MaximumPacketSize)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.keepalive > 0 {
				return violation(packets.ErrKeepAliveTimeout, "no packet within 1.5 × keepalive %s", c.keepalive)
			}
			return err
		}
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.version}
		if err := decode(&pk, body); err != nil {
			return violation(packets.ErrMalformedPacket, "%s: %v", packets.PacketNames[fh.Type], err)
		}
		for _, h := range c.srv.hooks.with(OnPacketRead) {
			pk, err = h.OnPacketRead(c.cl, pk)
			if err != nil {
				break
			}
		}
		if err != nil {
			continue
		}
		if err := c.handle(pk); err != nil {
			return err
		}
	}
}

// errNormal ends a connection after DISCONNECT.
var errNormal = errors.New("client disconnected")

func (c *conn) handle(pk packets.Packet) error {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return c.handlePublish(pk)
	case packets.Puback, packets.Pubcomp:
		c.acked(pk.PacketID, false, 0)
	case packets.Pubrec:
		c.acked(pk.PacketID, true, pk.ReasonCode)
	case packets.Pubrel:
		c.sess.mu.Lock()
		_, had := c.sess.received[pk.PacketID]
		delete(c.sess.received, pk.PacketID)
		c.sess.mu.Unlock()
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: pk.PacketID}
		if !had && c.version == 5 {
			ack.ReasonCode = packets.ErrPacketIdentifierNotFound.Code
		}
		c.send(ack)
	case packets.Subscribe:
		return c.handleSubscribe(pk)
	case packets.Unsubscribe:
		return c.handleUnsubscribe(pk)
	case packets.Pingreq:
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
	case packets.Disconnect:
		if pk.ReasonCode == packets.CodeDisconnectWillMessage.Code {
			return errNormal // with the will
		}
		c.normalEnd = true
		if pk.Properties.SessionExpiryIntervalFlag {
			c.sess.mu.Lock()
			if c.sess.expiry == 0 && pk.Properties.SessionExpiryInterval > 0 {
				c.sess.mu.Unlock()
				return violation(packets.ErrProtocolViolation, "DISCONNECT sets a session expiry after CONNECT set none") // [MQTT-3.14.2-2]
			}
			c.sess.expiry = pk.Properties.SessionExpiryInterval
			if m := c.srv.caps.MaximumSessionExpiry; m > 0 {
				c.sess.expiry = min(c.sess.expiry, m)
			}
			c.sess.mu.Unlock()
		}
		return errNormal
	case packets.Auth:
		return violation(packets.ErrProtocolViolation, "AUTH without an authentication method")
	default:
		return violation(packets.ErrProtocolViolation, "unexpected %s from a client", packets.PacketNames[pk.FixedHeader.Type])
	}
	return nil
}

// acked handles PUBACK, PUBREC and PUBCOMP for a delivery.
func (c *conn) acked(id uint16, rec bool, code byte) {
	ss := c.sess
	ss.mu.Lock()
	f, ok := ss.flight[id]
	relSend := false
	switch {
	case !ok:
	case rec && code < 0x80:
		f.rel = true
		relSend = true
	default:
		delete(ss.flight, id)
	}
	ss.mu.Unlock()
	if !ok && rec {
		relSend = true // answer a PUBREC we forgot with PUBREL 0x92 below
	}
	if relSend {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id}
		if !ok && c.version == 5 {
			pk.ReasonCode = packets.ErrPacketIdentifierNotFound.Code
		}
		c.send(pk)
		return
	}
	c.wakeWriter() // the window has room
}

func (c *conn) handlePublish(pk packets.Packet) error {
	caps := c.srv.caps
	qos := pk.FixedHeader.Qos
	if code := pk.PublishValidate(caps.TopicAliasMaximum); code != packets.CodeSuccess {
		return violation(code, "PUBLISH: %s", code.Reason)
	}
	if qos > caps.MaximumQoS {
		return violation(packets.ErrQosNotSupported, "PUBLISH at QoS %d: this broker allows %d", qos, caps.MaximumQoS) // [MQTT-3.2.2-11]
	}
	if pk.FixedHeader.Retain && caps.NoRetain {
		return violation(packets.ErrRetainNotSupported, "retained PUBLISH: retain is not available")
	}
	if a := pk.Properties.TopicAlias; a > 0 && c.version == 5 {
		if c.aliases == nil {
			c.aliases = map[uint16]string{}
		}
		if pk.TopicName != "" {
			// A copy: the codec's topic string points into the packet
			// body, which the alias would otherwise keep alive.
			c.aliases[a] = strings.Clone(pk.TopicName)
		} else if t, ok := c.aliases[a]; ok {
			pk.TopicName = t
		} else {
			return violation(packets.ErrTopicAliasInvalid, "PUBLISH with unknown topic alias %d", a) // [MQTT-3.3.4-?]
		}
	}
	if !validTopic(pk.TopicName) {
		return violation(packets.ErrTopicNameInvalid, "PUBLISH to an invalid topic name")
	}
	if qos == 2 {
		c.sess.mu.Lock()
		_, dup := c.sess.received[pk.PacketID]
		n := len(c.sess.received)
		c.sess.mu.Unlock()
		if dup { // already delivered: answer again [MQTT-4.3.3-10]
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
			return nil
		}
		if n >= int(caps.ReceiveMaximum) {
			return violation(packets.ErrReceiveMaximum, "more than Receive Maximum %d QoS 2 publishes unreleased", caps.ReceiveMaximum)
		}
	}
	var err error
	for _, h := range c.srv.hooks.with(OnPublish) {
		pk, err = h.OnPublish(c.cl, pk)
		if err != nil {
			break
		}
	}
	ignore := false
	switch {
	case err == nil:
	case errors.Is(err, packets.ErrRejectPacket):
		return nil
	case errors.Is(err, packets.CodeSuccessIgnore):
		ignore = true
	default:
		var code packets.Code
		if !errors.As(err, &code) || code.Code < 0x80 {
			code = packets.ErrUnspecifiedError
		}
		switch {
		case qos == 0:
		case c.version < 5:
			return violation(code, "PUBLISH refused: %s", code.Reason) // MQTT 3 has no negative acknowledgement
		default:
			c.send(c.pubAck(pk, code))
		}
		return nil
	}
	for _, h := range c.srv.hooks.with(OnACLCheck) {
		if !h.OnACLCheck(c.cl, pk.TopicName, true) {
			switch {
			case qos == 0:
			case c.version < 5:
				return violation(packets.ErrNotAuthorized, "PUBLISH to %s not authorized", pk.TopicName)
			default:
				c.send(c.pubAck(pk, packets.ErrNotAuthorized))
			}
			return nil
		}
	}
	if !ignore {
		m := &message{topic: pk.TopicName, payload: pk.Payload, qos: qos, retain: pk.FixedHeader.Retain,
			origin: c.cl.ID, props: forwardProps(pk.Properties)}
		m.expiry = c.srv.messageExpiry(pk.Properties.MessageExpiryInterval, time.Now())
		c.srv.publish(c.cl, m)
		for _, h := range c.srv.hooks.with(OnPublished) {
			h.OnPublished(c.cl, pk)
		}
	}
	// Acknowledged only now: the message is in every session's queue.
	switch qos {
	case 1:
		c.send(c.pubAck(pk, packets.CodeSuccess))
	case 2:
		c.sess.mu.Lock()
		c.sess.received[pk.PacketID] = struct{}{}
		c.sess.mu.Unlock()
		c.send(c.pubAck(pk, packets.CodeSuccess))
	}
	return nil
}

// pubAck is the PUBACK (QoS 1) or PUBREC (QoS 2) for pk.
func (c *conn) pubAck(pk packets.Packet, code packets.Code) packets.Packet {
	t := packets.Puback
	if pk.FixedHeader.Qos == 2 {
		t = packets.Pubrec
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: t}, PacketID: pk.PacketID, ReasonCode: code.Code}
	if code.Code >= 0x80 && c.problem {
		ack.Properties.ReasonString = code.Reason
	}
	return ack
}
