package profile

import (
	"fmt"
	"strings"
)

// Type is how a setting's text is parsed.
type Type int

const (
	String Type = iota
	Int
	Bool
	Duration // Go duration; a bare number means seconds
	Strings  // repeatable flag; comma-separated in env and profiles
)

// Def describes one setting: a flag, an IOTCTL_* variable and a profile key.
type Def struct {
	Name      string // flag and profile key, kebab-case
	Short     string // one-letter flag, if any
	Type      Type
	Default   string
	Usage     string
	Secret    bool     // never printed
	Enum      []string // allowed values, when closed
	Hidden    bool     // seed spellings and the like
	FileValue bool     // names a file that validate should check
	URL       bool     // may be a URL with user:password@, whose password is masked
	// Spell maps other accepted spellings of a closed value to the one
	// in Enum (nil: none).
	Spell func(string) string
	// Also lists the other spellings in the error for a bad value.
	Also string
	// Optional: a flag only of the commands that name it (their
	// ConnectionSettings extras); env and profiles set it for every command.
	Optional bool
	// Check, when set, checks a value profile set is given (the command
	// that uses the setting checks it again, wherever it came from).
	Check func(string) error
}

// Env is the environment variable that spells this setting.
func (d Def) Env() string { return EnvName(d.Name) }

// Defs is the one table of connection settings, in help order.
var Defs = []Def{
	{Name: "endpoint", Default: "localhost", URL: true, Usage: "broker host, host:port or URL (mqtt:// mqtts:// ws:// wss://); a URL's user:pass@ is the username and password unless --username/--password are set"},
	{Name: "port", Type: Int, Default: "0", Usage: "port; default from the auth method (1883 plain, 8883 mTLS, 443 ALPN/websockets/custom)"},
	{Name: "auth", Default: "", Usage: "auth method; inferred when unambiguous", Enum: []string{"none", "userpass", "mtls", "pkcs11", "pkcs12", "winstore", "sigv4", "cognito", "custom"}},
	{Name: "cert", Usage: "client certificate (PEM)", FileValue: true},
	{Name: "key", Usage: "client private key (PEM)", FileValue: true},
	{Name: "key-password", Usage: "password of an encrypted --key", Secret: true},
	{Name: "ca-file", Usage: "CA certificates (PEM) that replace the system roots", FileValue: true},
	{Name: "ca-path", Usage: "folder of CA certificate files (PEM), added to --ca-file's, like mosquitto's --capath"},
	{Name: "tls-version", Default: "1.2", Enum: []string{"1.2", "1.3"}, Spell: tlsVersionSpelling, Usage: "minimum TLS version (1.2 is the floor; tlsv1.3 as mosquitto spells it works too)"},
	{Name: "tls-max-version", Enum: []string{"1.2", "1.3"}, Spell: tlsVersionSpelling, Usage: "maximum TLS version (default: the newest)"},
	{Name: "server-name", Usage: "TLS server name for SNI and certificate verification (default: the endpoint's host), for brokers behind IPs or load balancers"},
	{Name: "alpn", Type: Strings, Usage: "ALPN protocols (default x-amzn-mqtt-ca for mTLS on 443, mqtt for custom auth on 443)"},
	{Name: "client-id", Usage: "MQTT client ID (default <client-id-prefix><random>)"},
	{Name: "client-id-prefix", Default: "iotctl-", Usage: "prefix of generated client IDs (e.g. test- for the seed policy)"},
	{Name: "username", Usage: "MQTT username"},
	{Name: "password", Usage: "MQTT password", Secret: true},
	{Name: "password-file", Usage: "file holding the MQTT password", FileValue: true},
	{Name: "thing-name", Optional: true, Check: checkThingName, Usage: "AWS IoT thing name of the shadow and jobs commands (also --thing; default: the client ID)"},
	{Name: "region", Usage: "AWS region for SigV4 and Cognito (default: the endpoint's, else AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's)"},
	{Name: "aws-profile", Usage: "AWS shared-config profile for SigV4 credentials"},
	{Name: "sts-endpoint", URL: true, Usage: "STS endpoint override (whoami)"},
	{Name: "cognito-identity-id", Usage: "Cognito identity ID (region:guid)"},
	{Name: "cognito-login", Type: Strings, Usage: "Cognito login provider=token (repeatable)", Secret: true},
	{Name: "cognito-endpoint", URL: true, Usage: "Cognito Identity endpoint override"},
	{Name: "authorizer-name", Usage: "custom authorizer name"},
	{Name: "authorizer-username", Usage: "username passed to the custom authorizer"},
	{Name: "authorizer-password", Usage: "password passed to the custom authorizer", Secret: true},
	{Name: "token-key-name", Usage: "custom authorizer token key name"},
	{Name: "token-value", Usage: "custom authorizer token value", Secret: true},
	{Name: "token-signature", Usage: "custom authorizer token signature (base64)", Secret: true},
	{Name: "no-metrics", Type: Bool, Default: "false", Usage: "leave SDK=iotctl&Version=… out of the custom-auth username"},
	{Name: "pkcs11-lib", Usage: "PKCS#11 module (.so/.dll)", FileValue: true},
	{Name: "pkcs11-pin", Usage: "PKCS#11 user PIN", Secret: true},
	{Name: "pkcs11-slot", Usage: "PKCS#11 slot ID"},
	{Name: "pkcs11-token-label", Usage: "PKCS#11 token label"},
	{Name: "pkcs11-key-label", Usage: "PKCS#11 private key label"},
	{Name: "pkcs12-file", Usage: "PKCS#12 (.p12/.pfx) file", FileValue: true},
	{Name: "pkcs12-password", Usage: "PKCS#12 password", Secret: true},
	{Name: "cert-store", Usage: `Windows certificate store path, e.g. CurrentUser\MY\<thumbprint>`},
	{Name: "transport", Default: "tcp", Usage: "tcp or websocket, where both are possible", Enum: []string{"tcp", "websocket"}},
	{Name: "proxy", URL: true, Usage: "proxy http://[user:pass@]host:port, https://…, socks5://… or socks5h://…; '' ignores HTTPS_PROXY and the like (password never printed)"},
	{Name: "proxy-ca-file", Usage: "CA certificates of an https:// proxy", FileValue: true},
	{Name: "proxy-host", Usage: "proxy host (seed spelling; prefer --proxy)", Hidden: true},
	{Name: "proxy-port", Type: Int, Default: "0", Usage: "proxy port (seed spelling; prefer --proxy)", Hidden: true},
	{Name: "no-proxy", Type: Bool, Default: "false", Usage: "connect directly: ignore HTTPS_PROXY, HTTP_PROXY and ALL_PROXY"},
	{Name: "mqtt-version", Short: "V", Default: "5", Enum: []string{"5", "3.1.1"}, Spell: mqttVersionSpelling, Also: "311, mqttv311, mqttv5", Usage: "MQTT protocol version; 3.1.1 has none of MQTT 5's properties ('iotctl help mqtt311'; 311, mqttv311 and mqttv5 as mosquitto spells them work too)"},
	{Name: "keepalive", Type: Duration, Default: "60s", Usage: "keepalive interval"},
	{Name: "session-expiry", Type: Duration, Default: "0s", Usage: "session expiry interval (0: session ends with the connection)"},
	{Name: "clean-start", Type: Bool, Default: "true", Usage: "start a new session"},
	{Name: "connect-timeout", Type: Duration, Default: "10s", Usage: "time allowed for one connection attempt"},
	{Name: "max-packet-size", Type: Int, Default: "0", Usage: "largest packet the broker may send, advertised in CONNECT, in bytes (0: 256 MiB, 256 KiB under --limits aws-iot)"},
	{Name: "max-reconnects", Type: Int, Usage: "give up after this many failed reconnects in a row, exit 3; 0: no limit (default: 10 for pub, pubsub, whoami and bench; no limit for sub)"},
	{Name: "connect-property", Type: Strings, Usage: "MQTT5 user property key=value sent in CONNECT (repeatable)"},
	{Name: "request-response-info", Type: Bool, Default: "false", Usage: "ask the broker for Response Information in CONNACK (whoami prints it)"},
	{Name: "receive-maximum", Type: Int, Default: "0", Usage: "QoS>0 messages the broker may send unacknowledged (0: library default)"},
	{Name: "inflight", Type: Int, Default: "0", Usage: "QoS>0 messages sent unacknowledged at most (0: the broker's Receive Maximum under MQTT 5; under 3.1.1, which has none, 1000, or 100 under --limits aws-iot, and 20 for pub and bench at QoS 2)"},
	{Name: "will-topic", Usage: "will message topic"},
	{Name: "will-message", Usage: "will message payload"},
	{Name: "will-qos", Type: Int, Default: "0", Usage: "will message QoS", Enum: []string{"0", "1", "2"}},
	{Name: "will-retain", Type: Bool, Default: "false", Usage: "retain the will message"},
	{Name: "will-delay", Type: Duration, Default: "0s", Usage: "will delay interval"},
	{Name: "will-expiry", Type: Duration, Default: "0s", Usage: "will message expiry interval (0: never expires)"},
	{Name: "will-content-type", Usage: "will message content type"},
	{Name: "will-property", Type: Strings, Usage: "MQTT5 user property key=value of the will message (repeatable)"},
	{Name: "limits", Default: "auto", Usage: "client-side validation rules", Enum: []string{"auto", "aws-iot", "mqtt5"}},
	{Name: "insecure", Type: Bool, Default: "false", Usage: "skip server certificate verification (prints a warning)"},
	{Name: "output", Short: "o", Default: "text", Usage: "output format", Enum: []string{"text", "json"}},
	{Name: "verbose", Short: "v", Type: Bool, Default: "false", Usage: "progress on stderr"},
	{Name: "debug", Type: Bool, Default: "false", Usage: "packet trace on stderr (secrets redacted)"},
	{Name: "log-file", Usage: "append the -v progress and the --debug trace to this file instead of stderr (the AWS IoT SDK samples' --log_file)", Hidden: true},
}

// Lookup returns the definition of a setting.
func Lookup(name string) (Def, bool) {
	for _, d := range Defs {
		if d.Name == name {
			return d, true
		}
	}
	return Def{}, false
}

// NormalizeKey spells a setting name the canonical way: lower case,
// kebab-case (ca_file and CA_FILE are ca-file), as flags accept too.
func NormalizeKey(key string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(key), "_", "-"))
}

// LookupKey finds a setting by any accepted spelling of its name; an unknown
// name is an ErrUnknownKey error that suggests the closest valid one.
func LookupKey(key string) (Def, error) {
	if d, ok := Lookup(NormalizeKey(key)); ok {
		return d, nil
	}
	return Def{}, fmt.Errorf("%w %q: did you mean %q? ('iotctl help environment' lists them all)", ErrUnknownKey, key, Closest(key))
}

// Closest returns the setting name nearest to key by edit distance.
func Closest(key string) string {
	best, bestD := "", 1<<30
	for _, d := range Defs {
		if dist := editDistance(NormalizeKey(key), d.Name); dist < bestD {
			best, bestD = d.Name, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tlsVersionSpelling accepts mosquitto's tlsv1.2 and TLSv1.3 and the like.
func tlsVersionSpelling(s string) string {
	l := strings.ToLower(s)
	for _, p := range []string{"tlsv", "tls"} {
		if rest, ok := strings.CutPrefix(l, p); ok {
			return rest
		}
	}
	return s
}

// mqttVersionSpelling accepts mosquitto's mqttv311 and mqttv5, and 311.
func mqttVersionSpelling(s string) string {
	switch strings.ToLower(s) {
	case "311", "mqttv311", "v3.1.1", "mqttv3.1.1":
		return "3.1.1"
	case "mqttv5", "v5", "5.0":
		return "5"
	}
	return s
}

// NameChar reports whether c may be in an AWS IoT thing or shadow name
// (a-z A-Z 0-9 : _ -).
func NameChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '-'
}

// checkThingName is AWS IoT's rule for thing names: 1 to 128 of NameChar.
func checkThingName(s string) error {
	if len(s) > 128 {
		return fmt.Errorf("a thing name of %d bytes: AWS IoT allows at most 128", len(s))
	}
	for _, c := range s {
		if !NameChar(c) {
			return fmt.Errorf("thing name %q has %q: use only a-z A-Z 0-9 : _ -", s, c)
		}
	}
	return nil
}
