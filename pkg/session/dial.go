package session

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/gorilla/websocket"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session/limits"
	"github.com/iotctl/iotctl/pkg/session/proxy"
)

const ioBufferSize = 64 << 10

// wrapConn, set by tests, wraps every dialed connection.
var wrapConn func(net.Conn) net.Conn

// Target resolves where the settings and a provider's Dial point: host and
// port (endpoint port > --port > the method's default port).
func Target(st *profile.Settings, d *auth.Dial) (auth.Target, error) {
	ep, err := profile.ParseEndpoint(st.Endpoint)
	if err != nil {
		return auth.Target{}, errs.Usagef("%v", err)
	}
	port := ep.Port
	if port == 0 {
		port = st.Port
	}
	if port == 0 && d != nil {
		port = d.Port
	}
	if port == 0 && d != nil {
		switch d.Transport {
		case auth.TLS:
			port = 8883
		case auth.WS:
			port = 80
		case auth.WSS:
			port = 443
		default:
			port = 1883
		}
	}
	return auth.Target{Host: ep.Host, Port: port}, nil
}

// dial opens the transport the provider asked for, through the proxy when
// one is set. ctx carries the connect timeout.
func (s *Session) dial(ctx context.Context, d *auth.Dial) (net.Conn, string, error) {
	st := s.o.Settings
	t, err := Target(st, d)
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	raw := func(ctx context.Context) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, dialErr(ctx, addr, err)
		}
		return c, nil
	}
	choice, err := ProxyFor(st, d)
	if err != nil {
		return nil, addr, err
	}
	if s.o.Debug != nil {
		traceOut(s.o.Debug, "PROXY", choice.String())
	}
	if choice.URL != nil {
		var roots *x509.CertPool
		if st.ProxyCAFile != "" {
			if roots, err = auth.LoadCAFile(st.ProxyCAFile); err != nil {
				return nil, addr, err
			}
		}
		raw = func(ctx context.Context) (net.Conn, error) {
			return proxy.Dial(ctx, proxy.Config{URL: choice.URL, RootCAs: roots, From: choice.From, ClientFirst: true}, addr)
		}
	}
	if s.o.Coalesce {
		// Paced under TLS and websockets, where reads return what the
		// socket holds (paced.go).
		dialSocket := raw
		raw = func(ctx context.Context) (net.Conn, error) {
			c, err := dialSocket(ctx)
			if err != nil {
				return nil, err
			}
			return paced(c, &s.noPace), nil
		}
	}
	var tcfg *tls.Config
	if d.Transport == auth.TLS || d.Transport == auth.WSS {
		tcfg = tlsConfig(d.TLS, t.Host)
	}
	switch d.Transport {
	case auth.TCP, "":
		c, err := raw(ctx)
		return c, addr, err
	case auth.TLS:
		c, err := raw(ctx)
		if err != nil {
			return nil, addr, err
		}
		tc := tls.Client(c, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, addr, tlsErr(ctx, addr, err)
		}
		return tc, addr, nil
	case auth.WS, auth.WSS:
		c, err := s.dialWebsocket(ctx, d, t, raw, tcfg)
		return c, addr, err
	}
	return nil, addr, errs.Usagef("transport %q is not supported", d.Transport)
}

// ProxyFor is the proxy a connection to the settings' endpoint with the
// provider's Dial goes through (see proxy.Rule): TLS and wss connections
// follow HTTPS_PROXY, plain and ws ones HTTP_PROXY, unless --proxy or
// --no-proxy say otherwise.
func ProxyFor(st *profile.Settings, d *auth.Dial) (proxy.Choice, error) {
	rule, err := proxy.FromSettings(st, os.Getenv)
	if err != nil {
		return proxy.Choice{}, err
	}
	t, err := Target(st, d)
	if err != nil {
		return proxy.Choice{}, err
	}
	secure := d != nil && (d.Transport == auth.TLS || d.Transport == auth.WSS)
	return rule.For(secure, net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
}

func tlsConfig(base *tls.Config, host string) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" { // --server-name wins
		cfg.ServerName = host
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

func (s *Session) dialWebsocket(ctx context.Context, d *auth.Dial, t auth.Target, raw func(context.Context) (net.Conn, error), tcfg *tls.Config) (net.Conn, error) {
	var u string
	var hdr http.Header
	if d.WebsocketURL != nil {
		var err error
		if u, hdr, err = d.WebsocketURL(ctx, t); err != nil {
			if errs.KindOf(err) == errs.Unexpected && ctx.Err() == nil {
				err = errs.Connectf("websocket URL for %s: %v", t.Host, err)
			}
			return nil, err
		}
	} else {
		scheme := "ws"
		if d.Transport == auth.WSS {
			scheme = "wss"
		}
		path := "/mqtt"
		if ep, err := profile.ParseEndpoint(s.o.Settings.Endpoint); err == nil && ep.Path != "" {
			path = ep.Path
		}
		u = (&url.URL{Scheme: scheme, Host: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Path: path}).String()
	}
	shown := RedactURL(u)
	if s.o.Debug != nil {
		traceOut(s.o.Debug, "UPGRADE", "GET "+shown+" (subprotocol mqtt)")
	}
	var lim *upgradeLimit
	wd := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := raw(ctx)
			if err != nil {
				return nil, err
			}
			lim = &upgradeLimit{Conn: c, left: maxUpgradeReply}
			return lim, nil
		},
		TLSClientConfig: tcfg,
		Subprotocols:    []string{"mqtt"},
		ReadBufferSize:  ioBufferSize,
		WriteBufferSize: ioBufferSize,
	}
	ws, resp, err := wd.DialContext(ctx, u, hdr)
	if err != nil {
		if k := errs.KindOf(err); k != errs.Unexpected {
			return nil, err
		}
		if lim != nil && lim.left == 0 {
			return nil, errs.Connectf("websocket upgrade at %s: the reply is longer than %d MB: check the endpoint and path", shown, maxUpgradeReply>>20)
		}
		if ctx.Err() != nil {
			return nil, dialErr(ctx, shown, ctx.Err())
		}
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			why := fmt.Sprintf("HTTP %s", resp.Status)
			if b := strings.TrimSpace(string(body)); b != "" {
				why += ": " + b
			}
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				return nil, errs.Refusedf("websocket upgrade at %s: %s: the broker rejected the credentials or signature (check the AWS credentials, region and clock, or the authorizer)", shown, why)
			}
			return nil, errs.Connectf("websocket upgrade at %s: %s: check the endpoint and path", shown, why)
		}
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) || strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:") {
			return nil, tlsErr(ctx, shown, err)
		}
		return nil, errs.Connectf("websocket upgrade at %s: %v", shown, redactErr(err, u, shown))
	}
	if s.o.Debug != nil {
		traceIn(s.o.Debug, "UPGRADE", "101 Switching Protocols, subprotocol "+ws.Subprotocol())
	}
	lim.left = -1
	return &wsConn{ws: ws}, nil
}

// maxUpgradeReply bounds what the endpoint may send before the upgrade is
// done: net/http reads response headers without a limit.
const maxUpgradeReply = 1 << 20

// upgradeLimit ends reading (EOF) once left bytes were read; left < 0
// lifts the limit once the upgrade is done.
type upgradeLimit struct {
	net.Conn
	left int64
}

func (c *upgradeLimit) NetConn() net.Conn { return c.Conn }

func (c *upgradeLimit) Read(b []byte) (int, error) {
	if c.left < 0 {
		return c.Conn.Read(b)
	}
	if c.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= int64(n)
	return n, err
}

// RedactURL hides a URL's query (a SigV4 signature, a session token).
func RedactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?<redacted>"
	}
	return u
}

func redactErr(err error, u, shown string) string {
	return strings.ReplaceAll(err.Error(), u, shown)
}

func dialErr(ctx context.Context, addr string, err error) error {
	if k := errs.KindOf(err); k != errs.Unexpected {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return errs.Connectf("connect to %s: timed out: check the endpoint, port and network (or raise --connect-timeout)", addr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return errs.Connectf("connect to %s: cannot resolve host %s: check --endpoint", addr, dnsErr.Name)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") {
		return errs.Connectf("connect to %s: connection refused: check that the broker runs and the endpoint and port are right", addr)
	}
	return errs.Connectf("connect to %s: %v: check the endpoint, port and network", addr, err)
}

func tlsErr(ctx context.Context, addr string, err error) error {
	if ctx.Err() != nil {
		return dialErr(ctx, addr, ctx.Err())
	}
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ue) || strings.Contains(err.Error(), "unknown authority"):
		return errs.Connectf("TLS handshake with %s: the server certificate is signed by an unknown authority: pass its CA with --ca-file (or --insecure for a test broker)", addr)
	case errors.As(err, &he):
		return errs.Connectf("TLS handshake with %s: %v: check --endpoint (the name must match the server certificate)", addr, he)
	case errors.As(err, &ce):
		return errs.Connectf("TLS handshake with %s: %v: check --ca-file", addr, ce.Err)
	}
	if strings.Contains(err.Error(), "protocol version") {
		return errs.Connectf("TLS handshake with %s: %v: the server and iotctl share no TLS version: TLS 1.2 or later is required, within --tls-version and --tls-max-version", addr, err)
	}
	return errs.Connectf("TLS handshake with %s: %v: check the port, --ca-file, the client certificate and --alpn", addr, err)
}

// wsConn is a websocket as a net.Conn: every Write is one binary frame
// (the session's bufio.Writer makes that one frame per flush).
type wsConn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
	r   io.Reader
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				continue
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }

// connTLS is the TLS state of a connection (nil when it is plain).
func connTLS(nc net.Conn) *tls.ConnectionState {
	if wc, ok := nc.(*wsConn); ok {
		nc = wc.ws.NetConn()
	}
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

func (c *wsConn) NetConn() net.Conn                  { return c.ws.NetConn() }
func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetDeadline(t time.Time) error      { return c.ws.UnderlyingConn().SetDeadline(t) }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// attempt is one connection attempt: provider, dial, CONNECT, CONNACK, all
// within the connect timeout. On success the connection is running and
// current.
func (s *Session) attempt(ctx context.Context, cleanStart bool) (*conn, Capabilities, error) {
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	d, err := s.o.Provider.Prepare(actx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, Capabilities{}, ctx.Err()
		}
		if errs.KindOf(err) == errs.Unexpected {
			err = errs.Connectf("%s credentials: %v", s.o.Provider.Method(), err)
		}
		return nil, Capabilities{}, err
	}
	if d.HasUsername {
		if err := limits.Text("username", d.Username); err != nil {
			return nil, Capabilities{}, err
		}
	}
	if d.HasPassword {
		if err := limits.Binary("password", len(d.Password)); err != nil {
			return nil, Capabilities{}, err
		}
	}
	nc, addr, err := s.dial(actx, d)
	if err != nil {
		if ctx.Err() != nil {
			return nil, Capabilities{}, ctx.Err()
		}
		return nil, Capabilities{}, err
	}
	if s.target == "" {
		s.target = addr
	}
	tlsState := connTLS(nc)
	if wrapConn != nil {
		nc = wrapConn(nc)
	}
	// The handshake obeys the same deadline; cancelling ctx interrupts it.
	stop := context.AfterFunc(actx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	br := bufio.NewReaderSize(nc, ioBufferSize)
	c := &conn{s: s, nc: nc, br: br, addr: addr, done: make(chan struct{}), finished: make(chan struct{})}
	c.bw = bufio.NewWriterSize(errWriter{c}, ioBufferSize)

	s.mu.Lock()
	clientID := s.clientID
	s.mu.Unlock()
	cp := s.connectPacket(d, clientID, cleanStart)
	if s.o.Debug != nil {
		traceOut(s.o.Debug, "CONNECT", describe(cp))
	}
	var cw io.WriterTo = connectWriter{cp.Content.(*packets.Connect)}
	if s.cfg.v311 {
		cw = writer311{cp}
	}
	werr := writePacket(c.bw, cw)
	if werr == nil {
		werr = c.bw.Flush()
	}
	var f frame
	if werr == nil {
		fr := frameReader{r: br, max: int(s.cfg.maxPacket), v311: s.cfg.v311}
		f, werr = fr.next()
	}
	stopped := stop()
	if werr == nil && !stopped {
		werr = actx.Err()
	}
	_ = nc.SetDeadline(time.Time{})
	if werr != nil {
		nc.Close()
		switch {
		case ctx.Err() != nil:
			return nil, Capabilities{}, ctx.Err()
		case actx.Err() != nil:
			return nil, Capabilities{}, errs.Connectf("connect to %s: no CONNACK within %s: check the endpoint, port and transport (or raise --connect-timeout)", addr, s.cfg.timeout)
		case errors.Is(werr, io.EOF) || errors.Is(werr, io.ErrUnexpectedEOF):
			hint := "check the port, transport and credentials"
			if !s.cfg.v311 {
				// Brokers that speak only 3.1.1 often close on an MQTT 5 CONNECT.
				hint += ", or --mqtt-version 3.1.1 for a broker that speaks only MQTT 3.1.1"
			}
			return nil, Capabilities{}, errs.Connectf("connect to %s: the broker closed the connection before CONNACK: %s", addr, hint)
		}
		if v := (*violation)(nil); errors.As(werr, &v) {
			return nil, Capabilities{}, &ProtocolError{Addr: addr, Packet: v.packet, Why: v.why}
		}
		return nil, Capabilities{}, errs.Connectf("connect to %s: %v", addr, werr)
	}
	err = checkFlags(f)
	if rerr := v311Connack(f, addr); err == nil && rerr != nil && !s.cfg.v311 {
		nc.Close()
		return nil, Capabilities{}, rerr
	}
	var resp *packets.ControlPacket
	if err == nil {
		resp, err = f.decode()
	}
	if err != nil {
		nc.Close()
		return nil, Capabilities{}, c.protocolErr(f.typ(), err)
	}
	ack, ok := resp.Content.(*packets.Connack)
	switch {
	case s.o.Debug == nil:
	case ok && s.cfg.v311:
		traceIn(s.o.Debug, "CONNACK", fmt.Sprintf("return_code=%d session_present=%t", returnCode311(ack.ReasonCode), ack.SessionPresent))
	default:
		traceIn(s.o.Debug, resp.PacketType(), describe(resp))
	}
	if !ok {
		nc.Close()
		if dp, ok := resp.Content.(*packets.Disconnect); ok && dp.ReasonCode >= 0x80 {
			return nil, Capabilities{}, &ReasonError{Op: "connect", Code: dp.ReasonCode, ReasonString: dp.Properties.ReasonString, Topic: fmt.Sprintf("%s as client ID %q", addr, clientID)}
		}
		return nil, Capabilities{}, errs.Connectf("connect to %s: expected CONNACK, got %s", addr, resp.PacketType())
	}
	if ack.ReasonCode >= 0x80 {
		nc.Close()
		if s.cfg.v311 {
			return nil, Capabilities{}, &ReasonError{Op: "connect", Code: ack.ReasonCode, MQTT311: true, Topic: fmt.Sprintf("%s as client ID %q", addr, clientID)}
		}
		return nil, Capabilities{}, &ReasonError{Op: "connect", Code: ack.ReasonCode, ReasonString: ack.Properties.ReasonString, Topic: fmt.Sprintf("%s as client ID %q", addr, clientID)}
	}
	if cleanStart && ack.SessionPresent {
		// [MQTT-3.2.2-1] (3.1.1), [MQTT-3.2.2-2] (5): believed, it would
		// skip resubscribing and keep the old QoS 2 packet IDs.
		nc.Close()
		return nil, Capabilities{}, &ProtocolError{Addr: addr, Packet: "CONNACK", Why: "session present after a clean connect (Clean Start / Clean Session 1)"}
	}
	caps := capabilities(ack)
	caps.ProtocolVersion = 5
	if s.cfg.v311 {
		caps.ProtocolVersion = 4
		caps.SubIDAvailable = false
		caps.ReceiveMaximum = uint16(s.cfg.inflight) // the window: a 3.1.1 broker says none
	}
	caps.ConnectLatency = time.Since(start)
	caps.TLS = tlsState
	c.keepalive = s.cfg.keepalive
	if caps.ServerKeepalive != nil {
		c.keepalive = time.Duration(*caps.ServerKeepalive) * time.Second
	}
	c.aliases = s.newAliases(caps.TopicAliasMaximum, caps.MaximumPacketSize)
	if err := s.up(c, caps); err != nil {
		nc.Close()
		return nil, Capabilities{}, err
	}
	return c, caps, nil
}

func (s *Session) connectPacket(d *auth.Dial, clientID string, cleanStart bool) *packets.ControlPacket {
	st := s.o.Settings
	cp := packets.NewControlPacket(packets.CONNECT)
	p := cp.Content.(*packets.Connect)
	p.ClientID = clientID
	p.CleanStart = cleanStart
	p.KeepAlive = uint16(s.cfg.keepalive / time.Second)
	if d.HasUsername {
		p.UsernameFlag, p.Username = true, d.Username
	}
	if d.HasPassword {
		p.PasswordFlag, p.Password = true, d.Password
	}
	if s.cfg.v311 {
		// No properties (v311.go encodes none; the trace shows none).
		p.ProtocolVersion = 4
		if st.WillTopic != "" {
			p.WillFlag, p.WillTopic, p.WillMessage = true, st.WillTopic, []byte(st.WillMessage)
			p.WillQOS, p.WillRetain = byte(st.WillQoS), st.WillRetain
		}
		return cp
	}
	if s.cfg.sessionExpiry > 0 {
		v := s.cfg.sessionExpiry
		p.Properties.SessionExpiryInterval = &v
	}
	rm := s.cfg.receiveMax
	p.Properties.ReceiveMaximum = &rm
	mp := s.cfg.maxPacket
	p.Properties.MaximumPacketSize = &mp
	p.Properties.User = wireUser(s.cfg.connectProps)
	if st.RequestRespInfo {
		one := byte(1)
		p.Properties.RequestResponseInfo = &one
	}
	if st.WillTopic != "" {
		p.WillFlag = true
		p.WillTopic = st.WillTopic
		p.WillMessage = []byte(st.WillMessage)
		p.WillQOS = byte(st.WillQoS)
		p.WillRetain = st.WillRetain
		p.WillProperties = &packets.Properties{}
		if st.WillDelay > 0 {
			v := uint32(st.WillDelay / time.Second)
			p.WillProperties.WillDelayInterval = &v
		}
		if st.WillExpiry > 0 {
			v := uint32(st.WillExpiry / time.Second)
			p.WillProperties.MessageExpiry = &v
		}
		p.WillProperties.ContentType = st.WillContentType
		p.WillProperties.User = wireUser(s.cfg.willProps)
	}
	return cp
}

func capabilities(ack *packets.Connack) Capabilities {
	p := ack.Properties
	if p == nil {
		p = &packets.Properties{}
	}
	c := Capabilities{
		AssignedClientID:    p.AssignedClientID,
		SessionPresent:      ack.SessionPresent,
		ServerKeepalive:     p.ServerKeepAlive,
		ReceiveMaximum:      65535,
		MaximumQoS:          2,
		RetainAvailable:     true,
		WildcardAvailable:   true,
		SharedAvailable:     true,
		SubIDAvailable:      true,
		ReasonString:        p.ReasonString,
		ResponseInformation: p.ResponseInfo,
	}
	if p.ReceiveMaximum != nil && *p.ReceiveMaximum > 0 {
		c.ReceiveMaximum = *p.ReceiveMaximum
	}
	if p.MaximumQOS != nil {
		c.MaximumQoS = *p.MaximumQOS
	}
	if p.RetainAvailable != nil {
		c.RetainAvailable = *p.RetainAvailable != 0
	}
	if p.MaximumPacketSize != nil {
		c.MaximumPacketSize = *p.MaximumPacketSize
	}
	if p.TopicAliasMaximum != nil {
		c.TopicAliasMaximum = *p.TopicAliasMaximum
	}
	if p.WildcardSubAvailable != nil {
		c.WildcardAvailable = *p.WildcardSubAvailable != 0
	}
	if p.SharedSubAvailable != nil {
		c.SharedAvailable = *p.SharedSubAvailable != 0
	}
	if p.SubIDAvailable != nil {
		c.SubIDAvailable = *p.SubIDAvailable != 0
	}
	return c
}

// up makes c the session's connection after a successful CONNACK: it sets
// the window and, before any new publish can slip in, queues what the
// session owes the broker (resubscriptions, then stored messages).
func (s *Session) up(c *conn, caps Capabilities) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.stopErr != nil {
		return ErrClosed
	}
	s.caps = caps
	if caps.AssignedClientID != "" {
		s.clientID = caps.AssignedClientID
	}
	s.window = min(int(caps.ReceiveMaximum), maxWindow)
	if s.cfg.inflight > 0 {
		s.window = min(s.window, s.cfg.inflight)
	}
	s.inFlight()
	var items []wItem
	if !caps.SessionPresent {
		clear(s.qos2In)
		clear(s.byID)
		for m := s.store.head; m != nil; m = m.next {
			m.released, m.everSent = false, false
			m.id = s.allocID()
			s.byID[m.id] = m
		}
		for _, part := range resubscriptions(s.subs, s.o.Limits.MaxSubscriptionsPerSubscribe) {
			id := s.allocID()
			s.ops[id] = &op{internal: part}
			cp := packets.NewControlPacket(packets.SUBSCRIBE)
			sp := cp.Content.(*packets.Subscribe)
			sp.PacketID = id
			setSubscriptionID(sp, part[0].ID)
			s.setSubscribeProperties(sp)
			for _, sub := range part {
				sp.Subscriptions = append(sp.Subscriptions, subOptions(sub))
			}
			items = append(items, wItem{typ: packets.SUBSCRIBE, pkt: cp})
		}
		if len(s.subs) > 0 {
			s.logf("the broker lost the session: subscribing again to %d filter(s)", len(s.subs))
		}
		if s.store.n > 0 {
			s.logf("the broker lost the session: publishing %d unacknowledged message(s) again", s.store.n)
		}
	}
	s.store.unsendAll()
	items = append(items, s.fill()...)
	c.wq = make(chan wItem, len(items)+s.window+256)
	for _, it := range items {
		c.wq <- it
	}
	c.start()
	s.conn = c
	if s.connWait != nil {
		close(s.connWait)
		s.connWait = nil
	}
	s.wakeSpace()
	return nil
}

// resubscriptions splits subscriptions into SUBSCRIBE packets: at most
// perPacket filters each (0: no limit), and one subscription identifier each.
func resubscriptions(subs []Subscription, perPacket int) [][]Subscription {
	var parts [][]Subscription
	for _, sub := range subs {
		n := len(parts)
		if n == 0 || parts[n-1][0].ID != sub.ID || (perPacket > 0 && len(parts[n-1]) >= perPacket) {
			parts = append(parts, nil)
			n++
		}
		parts[n-1] = append(parts[n-1], sub)
	}
	return parts
}
