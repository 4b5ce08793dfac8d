package session

import (
	"context"
	"crypto/tls"
	"io"
	"time"

	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session/limits"
)

// Options configure a Session. Zero values are documented per field.
type Options struct {
	Settings *profile.Settings
	Provider auth.Provider
	Limits   limits.Rules
	// Reconnect: after the first connection, reconnect with exponential
	// backoff and full jitter (long-running commands). Without it the
	// session ends at the first connection loss.
	Reconnect bool
	// Log receives -v progress lines (nil: none).
	Log io.Writer
	// Debug receives the --debug packet trace with secrets redacted (nil: none).
	Debug io.Writer
	// MaxReconnects is the command's default for --max-reconnects: give up
	// (Err is kind Connect) after this many failed reconnects in a row; 0:
	// never. The max-reconnects setting, when set, wins. A reconnect failed
	// when the attempt failed, or when its connection ended before the
	// broker answered anything, or on a protocol violation by the broker.
	MaxReconnects int
	// DropAfter: a QoS>=1 message is dropped (its done gets a
	// *DroppedError, kind Refused) when the broker ends the connection this
	// many times in a row while it is in flight, the last time alone
	// (0: 3). Without it one message the broker cannot take would be
	// republished on every reconnect for ever.
	DropAfter int
	// Warn receives one-line warnings that are shown whatever -v says: the
	// first protocol violation by the broker (nil: none). A dropped message
	// is reported through its done callback.
	Warn func(string)
	// OnConnect is called after every successful CONNACK (first and reconnects).
	OnConnect func(Capabilities)
	// Handler receives inbound PUBLISHes, one at a time in arrival order.
	// The PUBACK/PUBREC is sent only after it returns nil, so a slow
	// handler holds the broker back through Receive Maximum. DeferAck
	// leaves the acknowledgement to the handler (Message.Ack,
	// Session.Ack). Any other error ends the session (Err returns it)
	// without acknowledging that message.
	Handler func(*Message) error
	// Drained, when set, is called from the handler's goroutine after a
	// message when no other has arrived meanwhile: a handler that batches
	// its output (and deferred acknowledgements) writes the batch here.
	Drained func()
	// Coalesce: on a busy connection (a small read within a millisecond of
	// the one before) the reader waits for the rest of that millisecond
	// before reading again, so a stream that arrives in dribbles is read in
	// batches: a few hundred wake-ups a second instead of tens of
	// thousands, for at most 1 ms of added latency while busy. A lone
	// packet after a quiet moment, or a reply to a packet just written, is
	// read at once. For commands that move
	// many messages (pub, sub); not for latency measurements (bench).
	Coalesce bool
	// SubscribeProperties are the user properties of every SUBSCRIBE,
	// those sent again after a reconnect included.
	SubscribeProperties []UserProperty
	// TopicAlias: PUBLISHes use MQTT 5 topic aliases, up to the broker's
	// Topic Alias Maximum on each connection (alias.go). A broker that
	// allows none gets full topics and one Warn.
	TopicAlias bool
}

// Message is an application message, outbound or inbound.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Props   Properties

	ack Ack // inbound: what the message is owed
}

// Properties are the MQTT5 PUBLISH properties iotctl exposes.
type Properties struct {
	UserProperties  []UserProperty
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	MessageExpiry   *uint32 // seconds
	PayloadFormat   *byte
	SubscriptionIDs []int // inbound only
}

// UserProperty is one MQTT5 user property; order and duplicates are kept.
type UserProperty struct{ Key, Value string }

// Subscription is one topic filter of a SUBSCRIBE.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	// ID, when not 0, is sent as the Subscription Identifier and comes back
	// in Properties.SubscriptionIDs of the messages this filter matches. One
	// SUBSCRIBE carries one identifier: the subscriptions of one Subscribe
	// call must share it. Only for brokers whose CONNACK allows it.
	ID int
}

// Capabilities is what the broker said in its CONNACK.
type Capabilities struct {
	// ProtocolVersion is the MQTT protocol level: 5, or 4 for MQTT 3.1.1,
	// whose CONNACK says nothing but SessionPresent (the rest is then
	// what MQTT 3.1.1 allows).
	ProtocolVersion     byte
	AssignedClientID    string
	SessionPresent      bool
	ServerKeepalive     *uint16
	ReceiveMaximum      uint16 // 65535 when the broker sent none; under 3.1.1 the --inflight window
	MaximumQoS          byte
	RetainAvailable     bool
	MaximumPacketSize   uint32 // 0: no limit
	TopicAliasMaximum   uint16
	WildcardAvailable   bool
	SharedAvailable     bool
	SubIDAvailable      bool
	ReasonString        string
	ResponseInformation string
	ConnectLatency      time.Duration // dial + handshakes + CONNECT/CONNACK
	// TLS is the negotiated TLS (version, cipher suite, ALPN); nil on a
	// plain connection.
	TLS *tls.ConnectionState
}

// Connect dials the broker and completes CONNECT/CONNACK. The first
// attempt's failure is returned typed (errs kinds Connect, Refused, Usage).
func Connect(ctx context.Context, o Options) (*Session, error) { return connect(ctx, o) }

// Capabilities returns the latest CONNACK's capabilities.
func (s *Session) Capabilities() Capabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps
}

// ClientID is the client ID in use (the broker-assigned one when it assigned one).
func (s *Session) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientID
}

// Publish queues m. It blocks while the in-flight window (min(server
// Receive Maximum, our cap)) is full and returns once the message is
// queued for writing. done (may be nil) is called exactly once: nil on a
// success ack (after the write for QoS 0), a *ReasonError on a refusal, or
// a context/close error. m must not be modified until done is called.
// QoS>=1 messages are kept until acknowledged and republished when a
// reconnect finds the broker lost the session.
func (s *Session) Publish(ctx context.Context, m *Message, done func(error)) error {
	return s.publish(ctx, m, done)
}

// Flush waits until no QoS>=1 message is unacknowledged.
func (s *Session) Flush(ctx context.Context) error { return s.flush(ctx) }

// Unacked is the number of QoS>=1 messages not yet acknowledged.
func (s *Session) Unacked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.n
}

// Subscribe sends one SUBSCRIBE and returns the reason codes per filter.
// Any code >= 0x80 also returns a *ReasonError (errs kind Refused). The
// granted subscriptions are remembered and subscribed again after a
// reconnect that finds the broker lost the session.
func (s *Session) Subscribe(ctx context.Context, subs []Subscription) ([]byte, error) {
	return s.subscribe(ctx, subs)
}

// Unsubscribe removes filters, here and at the broker.
func (s *Session) Unsubscribe(ctx context.Context, filters ...string) error {
	return s.unsubscribe(ctx, filters)
}

// Close sends DISCONNECT with the reason code, then closes. Idempotent.
func (s *Session) Close(ctx context.Context, reason byte) error { return s.close(ctx, reason) }

// Done is closed when the session has ended for good.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended: nil after Close.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
