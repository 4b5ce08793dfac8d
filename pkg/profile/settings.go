package profile

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Source says where a setting's value came from.
type Source string

const (
	FromFlag    Source = "flag"
	FromEnv     Source = "env"
	FromProfile Source = "profile"
	FromDefault Source = "default"
	// FromEndpoint is a username or password taken from the user info of
	// the endpoint URL (mqtt://user:pass@host).
	FromEndpoint Source = "endpoint"
)

// Settings is every connection setting, resolved and typed. Commands receive
// it; nothing else reads flags, env or profile files.
type Settings struct {
	Endpoint          string        `setting:"endpoint"`
	Port              int           `setting:"port"`
	Auth              string        `setting:"auth"`
	Cert              string        `setting:"cert"`
	Key               string        `setting:"key"`
	KeyPassword       string        `setting:"key-password"`
	CAFile            string        `setting:"ca-file"`
	CAPath            string        `setting:"ca-path"`
	TLSVersion        string        `setting:"tls-version"`
	TLSMaxVersion     string        `setting:"tls-max-version"`
	ServerName        string        `setting:"server-name"`
	ALPN              []string      `setting:"alpn"`
	ClientID          string        `setting:"client-id"`
	ClientIDPrefix    string        `setting:"client-id-prefix"`
	Username          string        `setting:"username"`
	Password          string        `setting:"password"`
	PasswordFile      string        `setting:"password-file"`
	ThingName         string        `setting:"thing-name"`
	Region            string        `setting:"region"`
	AWSProfile        string        `setting:"aws-profile"`
	STSEndpoint       string        `setting:"sts-endpoint"`
	CognitoIdentityID string        `setting:"cognito-identity-id"`
	CognitoLogins     []string      `setting:"cognito-login"`
	CognitoEndpoint   string        `setting:"cognito-endpoint"`
	AuthorizerName    string        `setting:"authorizer-name"`
	AuthorizerUser    string        `setting:"authorizer-username"`
	AuthorizerPass    string        `setting:"authorizer-password"`
	TokenKeyName      string        `setting:"token-key-name"`
	TokenValue        string        `setting:"token-value"`
	TokenSignature    string        `setting:"token-signature"`
	NoMetrics         bool          `setting:"no-metrics"`
	PKCS11Lib         string        `setting:"pkcs11-lib"`
	PKCS11PIN         string        `setting:"pkcs11-pin"`
	PKCS11Slot        string        `setting:"pkcs11-slot"`
	PKCS11TokenLabel  string        `setting:"pkcs11-token-label"`
	PKCS11KeyLabel    string        `setting:"pkcs11-key-label"`
	PKCS12File        string        `setting:"pkcs12-file"`
	PKCS12Password    string        `setting:"pkcs12-password"`
	CertStore         string        `setting:"cert-store"`
	Transport         string        `setting:"transport"`
	Proxy             string        `setting:"proxy"`
	ProxyCAFile       string        `setting:"proxy-ca-file"`
	ProxyHost         string        `setting:"proxy-host"`
	ProxyPort         int           `setting:"proxy-port"`
	NoProxy           bool          `setting:"no-proxy"`
	MQTTVersion       string        `setting:"mqtt-version"`
	Keepalive         time.Duration `setting:"keepalive"`
	SessionExpiry     time.Duration `setting:"session-expiry"`
	CleanStart        bool          `setting:"clean-start"`
	ConnectTimeout    time.Duration `setting:"connect-timeout"`
	MaxReconnects     int           `setting:"max-reconnects"`
	ReceiveMaximum    int           `setting:"receive-maximum"`
	Inflight          int           `setting:"inflight"`
	MaxPacketSize     int           `setting:"max-packet-size"`
	ConnectProperties []string      `setting:"connect-property"`
	RequestRespInfo   bool          `setting:"request-response-info"`
	WillTopic         string        `setting:"will-topic"`
	WillMessage       string        `setting:"will-message"`
	WillQoS           int           `setting:"will-qos"`
	WillRetain        bool          `setting:"will-retain"`
	WillDelay         time.Duration `setting:"will-delay"`
	WillExpiry        time.Duration `setting:"will-expiry"`
	WillContentType   string        `setting:"will-content-type"`
	WillProperties    []string      `setting:"will-property"`
	Limits            string        `setting:"limits"`
	Insecure          bool          `setting:"insecure"`
	Output            string        `setting:"output"`
	Verbose           bool          `setting:"verbose"`
	Debug             bool          `setting:"debug"`
	LogFile           string        `setting:"log-file"`

	// Profile is the selected profile's name ("" for none), ProfilePath its
	// file, and ProfileFrom what selected it: FromProfileFlag,
	// FromProfileEnv, FromSelection, FromArgument, or "" when nothing did.
	// An empty Profile with ProfileFrom set is "no profile" asked for.
	Profile     string
	ProfilePath string
	ProfileFrom string
	// Entries holds every setting's text and source, in Defs order.
	Entries []Entry
}

// Entry is one resolved setting as text, for show and whoami.
type Entry struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source Source `json:"source"`
	Secret bool   `json:"-"`
	// URL marks a value that may be a URL with a password in it.
	URL bool `json:"-"`
}

// Shown is the value as it may be printed: secrets that are set are
// redacted, and so is the password of a URL (http://bob:****@host:3128).
func (e Entry) Shown() string {
	if e.Secret && e.Value != "" {
		return Masked
	}
	if e.URL && e.Name == "proxy" {
		return MaskProxyURL(e.Value)
	}
	if e.URL {
		return MaskURL(e.Value)
	}
	return e.Value
}

// Source returns where the named setting came from.
func (s *Settings) Source(name string) Source {
	for _, e := range s.Entries {
		if e.Name == name {
			return e.Source
		}
	}
	return ""
}

// IsSet reports whether a setting was given by flag, env or profile.
func (s *Settings) IsSet(name string) bool {
	src := s.Source(name)
	return src != "" && src != FromDefault
}

// String lists the settings with secrets redacted, so a Settings value
// printed by mistake leaks nothing.
func (s *Settings) String() string {
	var b strings.Builder
	for _, e := range s.Entries {
		fmt.Fprintf(&b, "%s=%s ", e.Name, e.Shown())
	}
	return strings.TrimSpace(b.String())
}

// parseValue checks text against a definition and returns the typed value.
func parseValue(d Def, text string) (any, error) {
	if d.Spell != nil && text != "" {
		text = d.Spell(text)
	}
	if len(d.Enum) > 0 && text != "" && !contains(d.Enum, text) {
		also := ""
		if d.Also != "" {
			also = " (or " + d.Also + ")"
		}
		return nil, fmt.Errorf("%w %q for %s: want one of %s%s", ErrInvalidValue, text, d.Name, strings.Join(d.Enum, ", "), also)
	}
	switch d.Type {
	case Int:
		if text == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(text)
		if err != nil {
			return nil, fmt.Errorf("%w %q for %s: want a whole number", ErrInvalidValue, text, d.Name)
		}
		if n < 0 {
			return nil, fmt.Errorf("%w %q for %s: must not be negative", ErrInvalidValue, text, d.Name)
		}
		return n, nil
	case Bool:
		if text == "" {
			return false, nil
		}
		v, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%w %q for %s: want true or false", ErrInvalidValue, text, d.Name)
		}
		return v, nil
	case Duration:
		v, err := ParseDuration(text)
		if err != nil {
			return nil, fmt.Errorf("%w %q for %s: want a duration like 30s, 5m or 1h (a bare number is seconds)", ErrInvalidValue, text, d.Name)
		}
		return v, nil
	case Strings:
		return SplitList(text), nil
	}
	return text, nil
}

// ValidateValue checks text as a value of the named setting (type, enum).
func ValidateValue(name, text string) error {
	if _, err := ParseValue(name, text); err != nil {
		return err
	}
	if d, _ := LookupKey(name); d.Check != nil && text != "" {
		if err := d.Check(text); err != nil {
			return fmt.Errorf("%w for %s: %v", ErrInvalidValue, d.Name, err)
		}
	}
	return nil
}

// ParseValue checks text as a value of the named setting and returns it
// typed: int, bool, time.Duration, []string or string.
func ParseValue(name, text string) (any, error) {
	d, err := LookupKey(name)
	if err != nil {
		return nil, err
	}
	return parseValue(d, text)
}

// ParseDuration parses a Go duration; a bare non-negative number means seconds.
func ParseDuration(text string) (time.Duration, error) {
	if text == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(text, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration")
	}
	return d, nil
}

// FormatDuration prints a duration the way users write it: 60s, 5m, 1h,
// and Go's form (1m30s) only when no single unit fits.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d < time.Hour:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0 && d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(text string) []string {
	var out []string
	for _, p := range strings.Split(text, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// assign stores typed values into the Settings fields by their tags.
func (s *Settings) assign(values map[string]any) {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("setting")
		if val, ok := values[name]; ok && name != "" {
			v.Field(i).Set(reflect.ValueOf(val))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
