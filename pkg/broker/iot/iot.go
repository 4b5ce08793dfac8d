// Package iot is the AWS IoT Core emulation of the embedded broker
// (`iotctl broker --iot`): who a connection is (mutual TLS, SigV4 or
// Cognito websockets, custom authorizers), what its IoT policies let it do
// (Connect, Publish, RetainPublish, Subscribe, Receive, evaluated with
// pkg/policy), and IoT Core's limits and CONNACK capabilities.
//
// It plugs into pkg/broker through Options: a broker hook, a TLS
// configuration that routes each ClientHello by ALPN, and the websocket
// listener's pre-upgrade check. See Emulator.Apply.
//
// Every emulator runs the Device Shadow service (shadow.go) on the
// reserved $aws/things/{thing}/shadow/… topics and fleet provisioning
// (provision.go) on $aws/certificates/create… and
// $aws/provisioning-templates/…; certificates it issues are trusted by the
// mutual TLS listener once RegisterThing has activated them.
//
// Principals are named as in --policy: cert:<certificate ID> (lower-case
// hex SHA-256 of the DER certificate), akid:<access key ID>,
// cognito:<identity ID> and custom:<principalId>. Without a policy every
// action is denied, as on IoT Core.
//
// Refusals, as the emulator answers them:
//   - CONNACK 0x85: client ID longer than 128 bytes.
//   - CONNACK 0x86: credentials rejected: no or unknown custom authorizer,
//     a missing or invalid token signature, isAuthenticated false.
//   - CONNACK 0x87: iot:Connect denied (no policy included), or the
//     custom authorizer failed (exit status, timeout, unreadable answer).
//   - HTTP 403 at the websocket upgrade: a SigV4 URL that does not verify.
//   - PUBACK 0x87 / 0x90 / 0x97 (QoS 0: dropped): publish denied, topic
//     over IoT's limits, publish rate exceeded.
//   - SUBACK 0x87 / 0x8F / 0x97 per filter: subscribe denied, filter over
//     IoT's limits, more than 8 filters in a SUBSCRIBE or 50 subscriptions.
//   - DISCONNECT 0x9B QoS 2 publish, 0x95 payload over 128 KB, 0xA1
//     subscription identifier, 0xA0 after --sigv4-max-age (SigV4 and
//     Cognito) or the authorizer's disconnectAfterInSeconds.
//
// Every refusal is logged with what was refused and why, never a secret.
package iot

import (
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/policy"
)

// Defaults of Config, as on IoT Core.
const (
	DefaultAccount          = "123456789012"
	DefaultRegion           = "us-east-1"
	DefaultSigV4MaxAge      = 24 * time.Hour
	DefaultPublishRateLimit = 100 // publishes per second per connection
)

// IoT Core's limits that the emulator enforces (docs/AWS-IOT.md).
const (
	MaxClientIDBytes = 128
	MaxPayloadBytes  = 128 * 1024
	// MaxPacketBytes is the largest packet: a full payload with room for
	// its topic and properties (IoT Core's MQTT 5 Maximum Packet Size).
	MaxPacketBytes          = 146 * 1024
	MaxFiltersPerSubscribe  = 8
	MaxSubscriptionsPerConn = 50
	ReceiveMaximum          = 100
	TopicAliasMaximum       = 8
	// MaxSessionExpiry is IoT Core's default cap on the session expiry.
	MaxSessionExpiry = time.Hour
	// MaxMessageExpiry is the longest message expiry IoT Core keeps.
	MaxMessageExpiry = 7 * 24 * time.Hour
	// AuthorizerTimeout bounds one run of a custom authorizer command.
	AuthorizerTimeout = 10 * time.Second
)

// Principal name prefixes.
const (
	PrefixCert    = "cert:"
	PrefixAKID    = "akid:"
	PrefixCognito = "cognito:"
	PrefixCustom  = "custom:"
	// AnyPrincipal's policies apply to every authenticated principal.
	AnyPrincipal = "*"
)

// Credential is an AWS access key the emulator accepts in SigV4 websocket
// URLs. With CognitoIdentityID set, the key stands for that Cognito
// identity (principal cognito:<id>), as keys handed out by Cognito's
// GetCredentialsForIdentity do; otherwise the principal is akid:<id>.
type Credential struct {
	AccessKeyID       string
	SecretAccessKey   string
	SessionToken      string // "" for long-term keys; else it must be sent
	CognitoIdentityID string
}

// Principal is the --policy name of the credential's principal.
func (c Credential) Principal() string {
	if c.CognitoIdentityID != "" {
		return PrefixCognito + c.CognitoIdentityID
	}
	return PrefixAKID + c.AccessKeyID
}

// Authorizer is a custom authorizer: Command gets IoT Core's authorizer
// event as JSON on stdin and answers with the Lambda-style response on
// stdout (see authorizer.go). With PublicKey set, tokens must be signed.
type Authorizer struct {
	Name      string
	Command   string
	PublicKey *rsa.PublicKey
}

// Policy is one policy document attached to a principal (or AnyPrincipal).
type Policy struct {
	Principal string
	Doc       *policy.Document
}

// Thing is a thing attached to a principal: a connection of that principal
// whose client ID is the thing's name gets ${iot:Connection.Thing.*}.
type Thing struct {
	Name       string
	Principal  string
	Attributes map[string]string
}

// Config is the emulated account. Zero values: the defaults above; no
// credentials, authorizers, policies or things; no logs.
type Config struct {
	Account string
	Region  string

	Credentials []Credential
	Authorizers []Authorizer
	Policies    []Policy
	Things      []Thing

	// SigV4MaxAge disconnects SigV4 and Cognito connections after this
	// long (0: DefaultSigV4MaxAge; negative: never).
	SigV4MaxAge time.Duration
	// PublishRateLimit is the publishes per second one connection may make
	// (burst the same); more get PUBACK 0x97. 0 turns the limit off. Use
	// DefaultPublishRateLimit for IoT Core's.
	PublishRateLimit int

	// Logger gets refusals (Warn) and, with Verbose, each authenticated
	// connection (Info). nil discards.
	Logger  *slog.Logger
	Verbose bool

	// StateDir keeps the Device Shadow service's shadows across restarts
	// (in StateDir/shadows); "" keeps them in memory only.
	StateDir string
	// Shadows are the shadows the service starts with.
	Shadows []ShadowSeed

	// Fleet provisioning (provision.go): templates by name, the policies
	// their PolicyName resources attach, and their hooks. The provisioning
	// CA and what was provisioned live in StateDir/provisioning when set.
	ProvisioningTemplates []ProvisioningTemplate
	NamedPolicies         []NamedPolicy

	// Now is the clock of SigV4 verification, rate limits and shadow
	// timestamps (nil: time.Now).
	Now func() time.Time
}

// Emulator is a configured IoT Core emulation, ready to Apply to broker
// options. One Emulator serves one broker.
type Emulator struct {
	cfg         Config
	log         *slog.Logger
	keys        map[string]Credential
	authorizers map[string]Authorizer

	mu       sync.RWMutex // policies and things grow with fleet provisioning
	policies map[string][]*policy.Document
	things   map[string]Thing // by name

	conns sync.Map // *broker.Client → *conn

	reply    *replier             // publishes the services' answers (service.go)
	services []service            // in the order they are asked
	shadows  *shadowService       // the Device Shadow service (shadow.go)
	prov     *provisioningService // fleet provisioning (provision.go)
}

// New checks the configuration. Errors name the offending entry.
func New(cfg Config) (*Emulator, error) {
	if cfg.Account == "" {
		cfg.Account = DefaultAccount
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.SigV4MaxAge == 0 {
		cfg.SigV4MaxAge = DefaultSigV4MaxAge
	}
	if cfg.PublishRateLimit < 0 {
		return nil, fmt.Errorf("publish rate limit %d is negative: give 0 to turn it off", cfg.PublishRateLimit)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Emulator{
		cfg:         cfg,
		log:         cfg.Logger,
		keys:        map[string]Credential{},
		authorizers: map[string]Authorizer{},
		policies:    map[string][]*policy.Document{},
		things:      map[string]Thing{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.Credentials {
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return nil, errors.New("AWS credentials need an access key ID and a secret key")
		}
		if _, dup := e.keys[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("access key ID %s is given twice", c.AccessKeyID)
		}
		e.keys[c.AccessKeyID] = c
	}
	for _, a := range cfg.Authorizers {
		if a.Name == "" || a.Command == "" {
			return nil, fmt.Errorf("custom authorizer %q needs a name and a command", a.Name)
		}
		if _, dup := e.authorizers[a.Name]; dup {
			return nil, fmt.Errorf("custom authorizer %s is given twice", a.Name)
		}
		e.authorizers[a.Name] = a
	}
	for _, p := range cfg.Policies {
		if err := CheckPrincipal(p.Principal); err != nil {
			return nil, err
		}
		if p.Doc == nil {
			return nil, fmt.Errorf("policy for %s: no document", p.Principal)
		}
		e.policies[p.Principal] = append(e.policies[p.Principal], p.Doc)
	}
	for _, t := range cfg.Things {
		if t.Name == "" {
			return nil, errors.New("a thing needs a name")
		}
		if err := CheckPrincipal(t.Principal); err != nil || t.Principal == AnyPrincipal {
			return nil, fmt.Errorf("thing %s: attach it to one principal (cert:…, akid:…, cognito:… or custom:…), not %q", t.Name, t.Principal)
		}
		if _, dup := e.things[t.Name]; dup {
			return nil, fmt.Errorf("thing %s is given twice", t.Name)
		}
		e.things[t.Name] = t
	}
	e.reply = &replier{e: e}
	if err := e.setupShadows(); err != nil {
		return nil, err
	}
	if err := e.setupProvisioning(); err != nil {
		return nil, err
	}
	return e, nil
}

// CheckPrincipal checks a --policy principal name.
func CheckPrincipal(p string) error {
	if p == AnyPrincipal {
		return nil
	}
	for _, prefix := range []string{PrefixCert, PrefixAKID, PrefixCognito, PrefixCustom} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			if rest == "" {
				return fmt.Errorf("principal %q has nothing after %s", p, prefix)
			}
			if prefix == PrefixCert && !isCertID(rest) {
				return fmt.Errorf("principal %q: a certificate ID is 64 lower-case hex digits (the SHA-256 of the DER certificate)", p)
			}
			return nil
		}
	}
	return fmt.Errorf("principal %q: want cert:<certificate ID>, akid:<access key ID>, cognito:<identity ID>, custom:<principalId> or *", p)
}

func isCertID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Apply plugs the emulation into broker options: its hook, the TLS
// listeners' ALPN routing, the websocket pre-upgrade check and IoT Core's
// capabilities. An Authorize or TLSConfig already set is kept and runs
// first.
func (e *Emulator) Apply(o *broker.Options) {
	o.Hooks = append(o.Hooks, &hook{e: e})
	prevTLS := o.TLSConfig
	o.TLSConfig = func(scheme string, c *tls.Config) {
		if prevTLS != nil {
			prevTLS(scheme, c)
		}
		e.configureTLS(scheme, c)
	}
	prevAuth := o.Authorize
	o.Authorize = func(r *http.Request) (any, int) {
		if prevAuth != nil {
			if v, status := prevAuth(r); status != 0 && (status < 200 || status > 299) {
				return v, status
			}
		}
		return e.authorizeUpgrade(r)
	}
	o.Capabilities = Capabilities()
}

// Capabilities are the broker's limits set to IoT Core's: QoS 1 at most,
// Receive Maximum 100, topic aliases up to 8, no subscription identifiers,
// session expiry up to an hour, message expiry up to 7 days, packets up to
// MaxPacketBytes.
func Capabilities() *broker.Capabilities {
	c := broker.DefaultCapabilities()
	c.MaximumQoS = 1
	c.ReceiveMaximum = ReceiveMaximum
	c.TopicAliasMaximum = TopicAliasMaximum
	c.NoSubscriptionIDs = true
	c.MaximumSessionExpiry = uint32(MaxSessionExpiry / time.Second)
	c.MaximumMessageExpiry = uint32(MaxMessageExpiry / time.Second)
	c.MaximumPacketSize = MaxPacketBytes
	return &c
}

// Summary describes the emulated account in one line, for start-up.
func (e *Emulator) Summary() string {
	var names []string
	for n := range e.authorizers {
		names = append(names, n)
	}
	sort.Strings(names)
	e.mu.RLock()
	principals := len(e.policies)
	e.mu.RUnlock()
	rate := "off"
	if e.cfg.PublishRateLimit > 0 {
		rate = fmt.Sprintf("%d/s", e.cfg.PublishRateLimit)
	}
	auths := "none"
	if len(names) > 0 {
		auths = strings.Join(names, ", ")
	}
	return fmt.Sprintf("AWS IoT Core emulation: account %s, region %s, %d principal(s) with policies, %d AWS key(s), custom authorizers: %s, publish rate limit %s, %s",
		e.cfg.Account, e.cfg.Region, principals, len(e.keys), auths, rate, e.prov.summary())
}

// policiesFor are the documents of a principal: its own and AnyPrincipal's.
func (e *Emulator) policiesFor(principal string) []*policy.Document {
	e.mu.RLock()
	defer e.mu.RUnlock()
	own := e.policies[principal]
	every := e.policies[AnyPrincipal]
	docs := make([]*policy.Document, 0, len(own)+len(every))
	return append(append(docs, own...), every...)
}

// thingFor is the thing a connection is: the client ID names a thing
// attached to the principal.
func (e *Emulator) thingFor(principal, clientID string) (Thing, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	t, ok := e.things[clientID]
	if !ok || t.Principal != principal {
		return Thing{}, false
	}
	return t, true
}
