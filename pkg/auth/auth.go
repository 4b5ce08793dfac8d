// Package auth turns Settings into what one connection attempt needs, one
// file per method behind the Provider interface. The session never switches
// on a method's name.
package auth

import (
	"context"
	"crypto/tls"
	"net/http"
)

// Transport is how bytes reach the broker.
type Transport string

const (
	TCP Transport = "tcp" // plain MQTT
	TLS Transport = "tls" // MQTT over TLS
	WS  Transport = "ws"  // MQTT over websocket
	WSS Transport = "wss" // MQTT over websocket over TLS
)

// Target is the broker a connection attempt goes to, as the session resolved
// it from the endpoint and the Provider's defaults.
type Target struct {
	Host string
	Port int
}

// Dial is what one connection attempt needs. Providers fill what their
// method decides; the session applies the rest (SNI, TLS floor, timeouts).
type Dial struct {
	Transport Transport
	// Port is the default port of the method, used when the endpoint names none.
	Port int
	// TLS carries client certificates (any crypto.Signer), RootCAs (nil:
	// system roots) and NextProtos (ALPN). ServerName is set by the session.
	TLS *tls.Config
	// WebsocketURL, when set, returns the URL and extra headers of the
	// upgrade request; it is called for every attempt so signatures are fresh.
	// When nil, the session uses ws(s)://host:port/mqtt.
	WebsocketURL func(ctx context.Context, t Target) (string, http.Header, error)
	// Username and Password go into CONNECT when HasUsername/HasPassword.
	Username    string
	HasUsername bool
	Password    []byte
	HasPassword bool
}

// Provider is one authentication method.
type Provider interface {
	// Method is the --auth name, for messages and whoami.
	Method() string
	// Prepare is called before every connection attempt.
	Prepare(ctx context.Context) (*Dial, error)
}
