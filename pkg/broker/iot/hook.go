package iot

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/mochi-mqtt/server/v2/packets"
)

// conn is what the emulator knows about one accepted connection.
type conn struct {
	principal string
	method    string // mtls, sigv4, cognito, custom
	docs      []*policy.Document
	pctx      policy.Context
	rate      *bucket // nil: no publish rate limit

	// The connection is closed (DISCONNECT 0xA0) after maxAge, for why.
	maxAge time.Duration
	why    string

	mu    sync.Mutex
	timer *time.Timer
}

// hook is the emulator's broker hook.
type hook struct {
	broker.HookBase
	e *Emulator
}

func (h *hook) ID() string { return "iotctl-iot-core" }

func (h *hook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{
		broker.OnConnect, broker.OnConnectAuthenticate, broker.OnSessionEstablished, broker.OnDisconnect,
		broker.OnACLCheck, broker.OnPacketRead, broker.OnPacketEncode, broker.OnPublish,
		broker.OnSubscribe, broker.OnClientExpired, broker.OnPublished,
	}, b) >= 0
}

// Bind lets the services publish their answers and starts the jobs
// folder's watcher.
func (h *hook) Bind(b *broker.Broker) {
	h.e.reply.bind(b)
	h.e.jobs.start()
}

// Stop ends the services' background work when the broker closes.
func (h *hook) Stop() { h.e.Close() }

// OnPublished hands requests on reserved topics to the services
// (service.go): the publish was allowed and delivered.
func (h *hook) OnPublished(cl *broker.Client, pk packets.Packet) {
	if !strings.HasPrefix(pk.TopicName, "$aws/") {
		return
	}
	for _, s := range h.e.services {
		if s.handle(cl, pk.TopicName, pk.Payload) {
			return
		}
	}
}

func (h *hook) conn(cl *broker.Client) *conn {
	if c, ok := h.e.conns.Load(cl); ok {
		return c.(*conn)
	}
	return nil
}

// OnConnect authenticates the client and checks iot:Connect; a refusal's
// code goes into the CONNACK.
func (h *hook) OnConnect(cl *broker.Client, pk packets.Packet) error {
	e := h.e
	if n := len(cl.ID); n > MaxClientIDBytes {
		return h.refuseConnect(cl, "", &refusal{packets.ErrClientIdentifierTooLong,
			fmt.Sprintf("client ID of %d bytes: IoT Core allows at most %d", n, MaxClientIDBytes)})
	}
	c, ref := e.identify(cl, pk)
	if ref != nil {
		return h.refuseConnect(cl, "", ref)
	}
	c.pctx = policy.Context{ClientID: cl.ID, Region: e.cfg.Region, Account: e.cfg.Account}
	if t, ok := e.thingFor(c.principal, cl.ID); ok {
		c.pctx.ThingName, c.pctx.ThingAttributes = t.Name, t.Attributes
	}
	if e.cfg.PublishRateLimit > 0 {
		c.rate = newBucket(e.cfg.PublishRateLimit, e.cfg.Now())
	}
	if !e.allowed(cl, c, "iot:Connect", policy.KindClient, cl.ID) {
		return h.refuseConnect(cl, c.principal, &refusal{reasoned(packets.ErrNotAuthorized, "iot:Connect denied for client ID "+cl.ID), ""})
	}
	e.conns.Store(cl, c)
	return nil
}

// refuseConnect logs why a connection is refused and returns the code
// the broker answers CONNACK with.
func (h *hook) refuseConnect(cl *broker.Client, principal string, r *refusal) error {
	if r.why != "" {
		attrs := []any{"client", cl.ID, "remote", cl.Net.Remote, "listener", cl.Net.Listener,
			"code", fmt.Sprintf("0x%02X", r.code.Code), "reason", r.why}
		if principal != "" {
			attrs = append(attrs, "principal", principal)
		}
		h.e.log.Warn("IoT: connection refused", attrs...)
	}
	return r.code
}

// reasoned is code with its own reason string, sent to the client: say
// what was refused, never a secret.
func reasoned(code packets.Code, reason string) packets.Code {
	return packets.Code{Code: code.Code, Reason: reason}
}

func (h *hook) OnConnectAuthenticate(cl *broker.Client, _ packets.Packet) bool {
	return h.conn(cl) != nil
}

// identify finds who is connecting: the client certificate, the SigV4
// identity of the websocket upgrade, or a custom authorizer's verdict.
func (e *Emulator) identify(cl *broker.Client, pk packets.Packet) (*conn, *refusal) {
	if info, ok := broker.UpgradeInfo(cl); ok {
		if id, ok := info.Value.(sigv4Identity); ok {
			method := "sigv4"
			if strings.HasPrefix(id.principal, PrefixCognito) {
				method = "cognito"
			}
			c := &conn{principal: id.principal, method: method, docs: e.policiesFor(id.principal)}
			if e.cfg.SigV4MaxAge > 0 {
				c.maxAge, c.why = e.cfg.SigV4MaxAge, fmt.Sprintf("SigV4 connection reached --sigv4-max-age %s", e.cfg.SigV4MaxAge)
			}
			return c, nil
		}
		in := customInput{protocols: []string{"http", "mqtt"}, http: &HTTPData{Headers: map[string]string{}}}
		if r := info.Request; r != nil {
			for k, v := range r.Header {
				in.http.Headers[strings.ToLower(k)] = strings.Join(v, ",")
			}
			in.http.QueryString = r.URL.RawQuery
			if r.TLS != nil {
				in.protocols = []string{"tls", "http", "mqtt"}
				in.tls = &TLSData{ServerName: r.TLS.ServerName}
			}
		}
		return e.custom(cl, pk, in)
	}
	if tc, ok := cl.Net.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := tc.ConnectionState()
		if st.NegotiatedProtocol == ALPNCustom {
			return e.custom(cl, pk, customInput{protocols: []string{"tls", "mqtt"}, tls: &TLSData{ServerName: st.ServerName}})
		}
		if len(st.PeerCertificates) == 0 {
			return nil, &refusal{packets.ErrNotAuthorized, "TLS connection without a client certificate and without ALPN mqtt (custom authorizers)"}
		}
		p := PrefixCert + CertificateID(st.PeerCertificates[0].Raw)
		return &conn{principal: p, method: "mtls", docs: e.policiesFor(p)}, nil
	}
	// Plain TCP: IoT Core has none; the emulator serves custom authorizers on it.
	return e.custom(cl, pk, customInput{protocols: []string{"mqtt"}})
}

// customInput is what the transport adds to a custom authorizer's event.
type customInput struct {
	protocols []string
	tls       *TLSData
	http      *HTTPData
}

// custom authenticates with the custom authorizer the username names: the
// token signature first when the authorizer has a key, then its command.
func (e *Emulator) custom(cl *broker.Client, pk packets.Packet, in customInput) (*conn, *refusal) {
	username := string(pk.Connect.Username)
	params, err := auth.ParseCustomAuthUsername(username)
	if err != nil {
		return nil, &refusal{packets.ErrBadUsernameOrPassword, err.Error()}
	}
	name := params.AuthorizerName
	if name == "" {
		if len(e.cfg.Authorizers) != 1 {
			return nil, &refusal{packets.ErrBadUsernameOrPassword, "no credentials: no client certificate, no SigV4 websocket URL and no x-amz-customauthorizer-name in the username" + e.authorizerHint()}
		}
		name = e.cfg.Authorizers[0].Name // the only one is the default authorizer
	}
	a, ok := e.authorizers[name]
	if !ok {
		return nil, &refusal{reasoned(packets.ErrBadUsernameOrPassword, "unknown custom authorizer "+name), fmt.Sprintf("unknown custom authorizer %q%s", name, e.authorizerHint())}
	}
	verified := false
	if a.PublicKey != nil {
		if err := verifyTokenSignature(a.PublicKey, params.TokenValue, params.Signature); err != nil {
			why := "custom authorizer " + name + ": " + err.Error()
			return nil, &refusal{reasoned(packets.ErrBadUsernameOrPassword, why), why}
		}
		verified = true
	}
	ev := AuthorizerEvent{
		Token:             params.TokenValue,
		SignatureVerified: verified,
		Protocols:         append(in.protocols[:0:0], in.protocols...),
		ProtocolData: ProtocolData{TLS: in.tls, HTTP: in.http, MQTT: &MQTTData{
			Username: username,
			ClientID: cl.ID,
		}},
		ConnectionMetadata: ConnectionMetadata{ID: uuid.NewString()},
	}
	if pk.Connect.PasswordFlag {
		ev.ProtocolData.MQTT.Password = base64.StdEncoding.EncodeToString(pk.Connect.Password)
	}
	res, err := e.runAuthorizer(context.Background(), a, ev)
	switch {
	case errors.Is(err, errNotAuthenticated):
		return nil, &refusal{reasoned(packets.ErrBadUsernameOrPassword, "custom authorizer "+name+": not authenticated"), "custom authorizer " + name + ": " + err.Error()}
	case err != nil:
		// The reason string leaves out the command's output: it is the
		// authorizer's, and may echo the token.
		return nil, &refusal{reasoned(packets.ErrNotAuthorized, "custom authorizer "+name+" failed"), "custom authorizer " + name + ": " + err.Error()}
	}
	p := PrefixCustom + res.principalID
	c := &conn{principal: p, method: "custom", docs: append(res.docs, e.policiesFor(p)...)}
	if res.disconnectAfter > 0 {
		c.maxAge, c.why = res.disconnectAfter, fmt.Sprintf("custom authorizer %s: disconnectAfterInSeconds %d", name, res.disconnectAfter/time.Second)
	}
	return c, nil
}

func (e *Emulator) authorizerHint() string {
	if len(e.cfg.Authorizers) == 0 {
		return " (the broker has no --authorizer)"
	}
	var names []string
	for _, a := range e.cfg.Authorizers {
		names = append(names, a.Name)
	}
	return " (authorizers: " + strings.Join(names, ", ") + ")"
}

// allowed evaluates the connection's policies and logs a denial.
func (e *Emulator) allowed(cl *broker.Client, c *conn, action, kind, name string) bool {
	res := policy.ARN(e.cfg.Region, e.cfg.Account, kind, name)
	d := policy.Evaluate(c.docs, policy.Request{Action: action, Resource: res, Context: c.pctx})
	if d.Allowed() {
		return true
	}
	why := d.Reason
	if len(c.docs) == 0 {
		if c.method == "custom" {
			why += ": the custom authorizer returned no policy documents"
		} else {
			why += ": no policy is attached to " + c.principal + " (give --policy " + c.principal + "=FILE)"
		}
	}
	e.log.Warn("IoT: denied", "action", action, "resource", res, "principal", c.principal, "client", cl.ID, "reason", why)
	return false
}

// OnSessionEstablished starts the connection's time limit.
func (h *hook) OnSessionEstablished(cl *broker.Client, _ packets.Packet) {
	c := h.conn(cl)
	if c == nil {
		return
	}
	// The session now lives on this connection: forget the record of an
	// earlier connection with the same client ID, kept for its offline session.
	h.e.conns.Range(func(k, _ any) bool {
		if old := k.(*broker.Client); old != cl && old.ID == cl.ID {
			h.e.conns.Delete(old)
		}
		return true
	})
	if h.e.cfg.Verbose {
		h.e.log.Info("IoT: authenticated", "client", cl.ID, "principal", c.principal, "method", c.method)
	}
	if c.maxAge <= 0 {
		return
	}
	c.mu.Lock()
	c.timer = time.AfterFunc(c.maxAge, func() {
		h.e.log.Info("IoT: disconnecting", "client", cl.ID, "principal", c.principal, "code", "0xA0", "reason", c.why)
		cl.Disconnect(packets.ErrMaxConnectTime)
	})
	c.mu.Unlock()
}

// OnDisconnect keeps the record of a connection whose session outlives it:
// messages queued for the offline session are checked against iot:Receive
// with its principal's policies, as IoT Core delivers them on reconnect.
func (h *hook) OnDisconnect(cl *broker.Client, _ error, expire bool) {
	var v any
	var ok bool
	if expire {
		v, ok = h.e.conns.LoadAndDelete(cl)
	} else {
		v, ok = h.e.conns.Load(cl)
	}
	if !ok {
		return
	}
	c := v.(*conn)
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

// OnClientExpired forgets a session that has expired.
func (h *hook) OnClientExpired(cl *broker.Client) {
	h.e.conns.Delete(cl)
}

// OnPacketRead catches what IoT Core answers with a DISCONNECT before the
// broker core handles it.
func (h *hook) OnPacketRead(cl *broker.Client, pk packets.Packet) (packets.Packet, error) {
	var code packets.Code
	var why string
	switch pk.FixedHeader.Type {
	case packets.Publish:
		switch {
		case pk.FixedHeader.Qos > 1:
			code, why = packets.ErrQosNotSupported, "QoS 2 publish to "+pk.TopicName+": IoT Core supports QoS 0 and 1"
		case len(pk.Payload) > MaxPayloadBytes:
			code, why = packets.ErrPacketTooLarge, fmt.Sprintf("payload of %d bytes to %s: IoT Core allows at most %d", len(pk.Payload), pk.TopicName, MaxPayloadBytes)
		}
	case packets.Subscribe:
		if len(pk.Properties.SubscriptionIdentifier) > 0 {
			code, why = packets.ErrSubscriptionIdentifiersNotSupported, "SUBSCRIBE with a subscription identifier: IoT Core supports none"
		}
	}
	if why == "" {
		return pk, nil
	}
	h.e.log.Warn("IoT: disconnecting", "client", cl.ID, "code", fmt.Sprintf("0x%02X", code.Code), "reason", why)
	cl.Disconnect(code)
	return pk, packets.ErrRejectPacket
}

// OnPacketEncode advertises IoT Core's capabilities in a successful
// CONNACK.
func (h *hook) OnPacketEncode(cl *broker.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode >= packets.ErrUnspecifiedError.Code || cl.Properties.ProtocolVersion < 5 {
		return pk
	}
	p := &pk.Properties
	p.TopicAliasMaximum = TopicAliasMaximum
	p.RetainAvailable, p.RetainAvailableFlag = 1, true
	p.SubIDAvailable, p.SubIDAvailableFlag = 0, true
	p.WildcardSubAvailable, p.WildcardSubAvailableFlag = 1, true
	p.SharedSubAvailable, p.SharedSubAvailableFlag = 1, true
	return pk
}

// OnACLCheck checks iot:Receive for every delivery, retained and queued
// ones included. Publishes are decided in OnPublish, where a topic alias
// has been resolved to its topic.
func (h *hook) OnACLCheck(cl *broker.Client, topic string, write bool) bool {
	if write {
		return true
	}
	c := h.conn(cl)
	if c == nil || !h.e.prov.mayReceive(cl, topic) {
		return false
	}
	return h.e.allowed(cl, c, "iot:Receive", policy.KindTopic, topic)
}

// OnWill publishes a will only under iot:Publish (and iot:RetainPublish
// for a retained one) on its topic, as IoT Core; a denied one is dropped
// and logged.
func (h *hook) OnWill(cl *broker.Client, topic string, retain bool) bool {
	e := h.e
	c := h.conn(cl)
	if c != nil && checkPublishTopic(topic, retain) == nil && e.allowed(cl, c, "iot:Publish", policy.KindTopic, topic) &&
		(!retain || e.allowed(cl, c, "iot:RetainPublish", policy.KindTopic, topic)) {
		return true
	}
	e.log.Warn("IoT: will dropped", "client", cl.ID, "topic", topic)
	return false
}

// OnPublish applies the rate limit, IoT Core's topic rules and the
// iot:Publish and iot:RetainPublish policies.
func (h *hook) OnPublish(cl *broker.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	e := h.e
	c := h.conn(cl)
	var r *refusal
	switch {
	case c == nil:
		r = &refusal{packets.ErrNotAuthorized, "publish from a connection the emulator did not authenticate"}
	case c.rate != nil && !c.rate.take(e.cfg.Now()):
		r = &refusal{packets.ErrQuotaExceeded, fmt.Sprintf("publish to %s over the rate limit of %d per second (--publish-rate-limit)", pk.TopicName, e.cfg.PublishRateLimit)}
	default:
		r = checkPublishTopic(pk.TopicName, pk.FixedHeader.Retain)
	}
	switch {
	case r != nil:
	case !e.allowed(cl, c, "iot:Publish", policy.KindTopic, pk.TopicName),
		pk.FixedHeader.Retain && !e.allowed(cl, c, "iot:RetainPublish", policy.KindTopic, pk.TopicName):
		r = &refusal{packets.ErrNotAuthorized, ""}
	default:
		return pk, nil
	}
	if r.why != "" {
		e.log.Warn("IoT: publish refused", "client", cl.ID, "topic", pk.TopicName, "code", fmt.Sprintf("0x%02X", r.code.Code), "reason", r.why)
	}
	// The broker drops a refused QoS 0 publish (as IoT Core does under
	// MQTT 5), answers QoS 1 with a PUBACK of the code, and disconnects an
	// MQTT 3.1.1 client, which has no negative PUBACK. IoT Core disconnects
	// an MQTT 3.1.1 client that publishes without iot:Publish at QoS 0 too.
	if r.code == packets.ErrNotAuthorized && pk.FixedHeader.Qos == 0 && cl.Properties.ProtocolVersion < 5 {
		cl.Disconnect(r.code)
		return pk, packets.ErrRejectPacket
	}
	return pk, r.code
}

// OnSubscribe decides each filter: the per-SUBSCRIBE and per-connection
// quotas, IoT Core's filter rules and iot:Subscribe. A refused filter gets
// its reason code in pk.ReasonCodes and is not subscribed.
func (h *hook) OnSubscribe(cl *broker.Client, pk packets.Packet) packets.Packet {
	c := h.conn(cl)
	if c == nil {
		for i := range pk.ReasonCodes {
			pk.ReasonCodes[i] = packets.ErrNotAuthorized.Code
		}
		return pk
	}
	existing := cl.Subscriptions()
	added := map[string]bool{}
	for i, sub := range pk.Filters {
		isNew := !cl.Subscribed(sub.Filter) && !added[sub.Filter]
		var r *refusal
		switch {
		case i >= MaxFiltersPerSubscribe:
			r = &refusal{packets.ErrQuotaExceeded, fmt.Sprintf("filter %d of one SUBSCRIBE: IoT Core takes at most %d", i+1, MaxFiltersPerSubscribe)}
		case isNew && existing+len(added) >= MaxSubscriptionsPerConn:
			r = &refusal{packets.ErrQuotaExceeded, fmt.Sprintf("subscription %d of the connection: IoT Core allows at most %d", existing+len(added)+1, MaxSubscriptionsPerConn)}
		default:
			r = checkFilter(sub.Filter)
		}
		if r == nil && !h.e.allowed(cl, c, "iot:Subscribe", policy.KindTopicFilter, sub.Filter) {
			r = &refusal{packets.ErrNotAuthorized, ""}
		}
		if r != nil {
			if r.why != "" {
				h.e.log.Warn("IoT: subscription refused", "client", cl.ID, "filter", sub.Filter, "code", fmt.Sprintf("0x%02X", r.code.Code), "reason", r.why)
			}
			pk.ReasonCodes[i] = r.code.Code
			continue
		}
		if isNew {
			added[sub.Filter] = true
		}
		// IoT Core sends retained messages to subscriptions without wildcards only.
		if strings.ContainsAny(sub.Filter, "+#") {
			pk.Filters[i].RetainHandling = 2
		}
	}
	return pk
}
