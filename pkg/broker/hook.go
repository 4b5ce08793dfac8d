package broker

import (
	"net"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Hook events. A hook says which it handles with Provides; the server asks
// only those hooks, in the order they were added.
const (
	// OnConnect(cl, pk) error: a non-nil error refuses the connection; a
	// packets.Code is sent as the CONNACK reason code (mapped for MQTT 3).
	OnConnect byte = iota
	// OnConnectAuthenticate(cl, pk) bool: every hook that provides it must
	// say true.
	OnConnectAuthenticate
	// OnSessionEstablished(cl, pk): after CONNACK success is queued.
	OnSessionEstablished
	// OnDisconnect(cl, err, expire): the connection ended; expire is true
	// when the session ends with it.
	OnDisconnect
	// OnClientExpired(cl): a session kept after its connection expired;
	// cl is its last connection.
	OnClientExpired
	// OnACLCheck(cl, topic, write) bool: write is a PUBLISH from cl, read
	// is one delivery to cl. Asked for every delivery, retained ones too.
	OnACLCheck
	// OnPacketRead(cl, pk) (pk, error): every packet after CONNECT; an
	// error drops the packet (the hook answers, e.g. cl.Disconnect).
	OnPacketRead
	// OnPacketEncode(cl, pk) pk: CONNACK, SUBACK and other control packets
	// the broker sends (not deliveries).
	OnPacketEncode
	// OnPublish(cl, pk) (pk, error): an inbound PUBLISH, topic alias
	// resolved. packets.ErrRejectPacket drops it unanswered;
	// packets.CodeSuccessIgnore acknowledges without delivering; another
	// packets.Code refuses it (PUBACK/PUBREC with the code under MQTT 5,
	// DISCONNECT under MQTT 3 at QoS ≥ 1, dropped at QoS 0).
	OnPublish
	// OnPublished(cl, pk): the message was delivered to the sessions.
	OnPublished
	// OnSubscribe(cl, pk) pk: an inbound SUBSCRIBE. pk.ReasonCodes holds a
	// code per filter (0 so far); a hook refuses a filter by setting its
	// code ≥ 0x80, or lowers the QoS by setting the filter's Qos.
	OnSubscribe
	// OnSubscribed(cl, pk, codes): the SUBACK's codes, after the
	// subscriptions were made.
	OnSubscribed
)

// Hook is a plug-in of the server. Embed HookBase and override what the
// hook provides.
type Hook interface {
	ID() string
	Provides(event byte) bool
	OnConnect(cl *Client, pk packets.Packet) error
	OnConnectAuthenticate(cl *Client, pk packets.Packet) bool
	OnSessionEstablished(cl *Client, pk packets.Packet)
	OnDisconnect(cl *Client, err error, expire bool)
	OnClientExpired(cl *Client)
	OnACLCheck(cl *Client, topic string, write bool) bool
	OnPacketRead(cl *Client, pk packets.Packet) (packets.Packet, error)
	OnPacketEncode(cl *Client, pk packets.Packet) packets.Packet
	OnPublish(cl *Client, pk packets.Packet) (packets.Packet, error)
	OnPublished(cl *Client, pk packets.Packet)
	OnSubscribe(cl *Client, pk packets.Packet) packets.Packet
	OnSubscribed(cl *Client, pk packets.Packet, codes []byte)
}

// WillChecker is a hook that decides whether a client's will is published
// (IoT Core publishes it only under iot:Publish, and iot:RetainPublish for
// a retained one): the server asks every hook that is one before it
// publishes a will, and drops the will when one says no.
type WillChecker interface {
	OnWill(cl *Client, topic string, retain bool) bool
}

// Binder is a hook that publishes through the broker (Broker.Publish),
// e.g. a service answering requests: New calls Bind with the broker
// before it starts.
type Binder interface {
	Bind(b *Broker)
}

// Stopper is a hook with background work of its own (timers, watchers):
// Close calls Stop once the connections are closed.
type Stopper interface {
	Stop()
}

// HookBase provides nothing and does nothing.
type HookBase struct{}

func (HookBase) ID() string                                         { return "base" }
func (HookBase) Provides(byte) bool                                 { return false }
func (HookBase) OnConnect(*Client, packets.Packet) error            { return nil }
func (HookBase) OnConnectAuthenticate(*Client, packets.Packet) bool { return true }
func (HookBase) OnSessionEstablished(*Client, packets.Packet)       {}
func (HookBase) OnDisconnect(*Client, error, bool)                  {}
func (HookBase) OnClientExpired(*Client)                            {}
func (HookBase) OnACLCheck(*Client, string, bool) bool              { return true }
func (HookBase) OnPacketRead(_ *Client, pk packets.Packet) (packets.Packet, error) {
	return pk, nil
}
func (HookBase) OnPacketEncode(_ *Client, pk packets.Packet) packets.Packet { return pk }
func (HookBase) OnPublish(_ *Client, pk packets.Packet) (packets.Packet, error) {
	return pk, nil
}
func (HookBase) OnPublished(*Client, packets.Packet)                     {}
func (HookBase) OnSubscribe(_ *Client, pk packets.Packet) packets.Packet { return pk }
func (HookBase) OnSubscribed(*Client, packets.Packet, []byte)            {}

// ClientNet is where a client is connected.
type ClientNet struct {
	Conn     net.Conn // nil for the in-process publisher
	Remote   string
	Listener string // the listener's scheme: mqtt, mqtts, ws, wss
	Inline   bool   // the in-process publisher (Broker.Publish)
}

// ClientProperties are what the client said in CONNECT.
type ClientProperties struct {
	ProtocolVersion byte // 3, 4 (3.1.1) or 5
	Username        []byte
	Clean           bool
	Keepalive       uint16
}

// Client is one connection as hooks see it.
type Client struct {
	ID         string
	Net        ClientNet
	Properties ClientProperties

	c *conn // nil for the inline client
}

// Disconnect sends DISCONNECT with code (MQTT 5 only) and closes the
// connection. It does not wait.
func (cl *Client) Disconnect(code packets.Code) {
	if cl.c != nil {
		cl.c.disconnect(code)
	}
}

// Stop closes the connection without a DISCONNECT.
func (cl *Client) Stop(err error) {
	if cl.c != nil {
		cl.c.stop(err)
	}
}

// Done is closed when the connection has ended.
func (cl *Client) Done() <-chan struct{} {
	if cl.c == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return cl.c.done
}

// Subscribed reports whether the client's session has a subscription to
// filter (as given, with any $share/ prefix).
func (cl *Client) Subscribed(filter string) bool {
	if cl.c == nil || cl.c.sess == nil {
		return false
	}
	s := cl.c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs[filter]
	return ok
}

// Subscriptions is the number of subscriptions of the client's session.
func (cl *Client) Subscriptions() int {
	if cl.c == nil || cl.c.sess == nil {
		return 0
	}
	s := cl.c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// hooks are the server's hooks by event, fixed before the server starts.
type hooks struct {
	list []Hook
	by   [OnSubscribed + 1][]Hook
}

func (h *hooks) add(k Hook) {
	h.list = append(h.list, k)
	for e := range h.by {
		if k.Provides(byte(e)) {
			h.by[e] = append(h.by[e], k)
		}
	}
}

func (h *hooks) with(event byte) []Hook { return h.by[event] }
