package whoami

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/iotctl/iotctl/cmd/shared"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session/proxy"
)

// report is what whoami prints; its JSON field names are a contract.
type report struct {
	Profile          string          `json:"profile"`
	Settings         []setting       `json:"settings"`
	AuthMethod       string          `json:"auth_method"`
	Endpoint         string          `json:"endpoint,omitempty"`
	Proxy            *proxyReport    `json:"proxy,omitempty"`
	Identity         *identity       `json:"identity,omitempty"`
	AWS              *awsCaller      `json:"aws,omitempty"`
	Connack          *shared.Connack `json:"connack,omitempty"`
	TLS              *shared.TLSInfo `json:"tls,omitempty"`
	ConnectLatencyMS *float64        `json:"connect_latency_ms,omitempty"`
	Warnings         []string        `json:"warnings"`
	Error            string          `json:"error,omitempty"`

	authInferred bool
}

// proxyReport is the proxy the connection to the endpoint goes through
// (session.ProxyFor): its URL, password masked, and where it came from
// (--proxy, IOTCTL_PROXY, profile NAME, HTTPS_PROXY, …), or source "none"
// and why not.
type proxyReport struct {
	URL    string `json:"url,omitempty"`
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`

	text string
}

func newProxyReport(c proxy.Choice) *proxyReport {
	if c.URL == nil {
		return &proxyReport{Source: "none", Note: c.Why, text: c.String()}
	}
	return &proxyReport{URL: c.Shown(), Source: c.From, text: c.String()}
}

// setting is one setting given by flag, env or profile.
type setting struct {
	Name   string         `json:"name"`
	Value  string         `json:"value"`
	Source profile.Source `json:"source"`
}

// identity is the method-specific part; what does not apply is left out.
type identity struct {
	// Certificate methods.
	CertificateSource string   `json:"certificate_source,omitempty"`
	Subject           string   `json:"subject,omitempty"`
	Issuer            string   `json:"issuer,omitempty"`
	SANs              []string `json:"sans,omitempty"`
	Serial            string   `json:"serial,omitempty"`
	KeyType           string   `json:"key_type,omitempty"`
	NotBefore         string   `json:"not_before,omitempty"`
	NotAfter          string   `json:"not_after,omitempty"`
	DaysLeft          *int     `json:"days_left,omitempty"`
	CertificateID     string   `json:"certificate_id,omitempty"`

	// pkcs11.
	PKCS11Module       string `json:"pkcs11_module,omitempty"`
	PKCS11Slot         *uint  `json:"pkcs11_slot,omitempty"`
	PKCS11TokenLabel   string `json:"pkcs11_token_label,omitempty"`
	PKCS11TokenSerial  string `json:"pkcs11_token_serial,omitempty"`
	PKCS11Manufacturer string `json:"pkcs11_manufacturer,omitempty"`
	PKCS11Model        string `json:"pkcs11_model,omitempty"`
	PKCS11KeyLabel     string `json:"pkcs11_key_label,omitempty"`
	PKCS11KeyID        string `json:"pkcs11_key_id,omitempty"`

	// sigv4 and cognito.
	AccessKeyID          string `json:"access_key_id,omitempty"`
	CredentialSource     string `json:"credential_source,omitempty"`
	TemporaryCredentials *bool  `json:"temporary_credentials,omitempty"`
	CredentialsExpire    string `json:"credentials_expire,omitempty"`
	SigningRegion        string `json:"signing_region,omitempty"`
	SigningRegionSource  string `json:"signing_region_source,omitempty"`

	// cognito.
	CognitoIdentityID     string   `json:"cognito_identity_id,omitempty"`
	CognitoRegion         string   `json:"cognito_region,omitempty"`
	CognitoLoginProviders []string `json:"cognito_login_providers,omitempty"`
	CognitoEndpoint       string   `json:"cognito_endpoint,omitempty"`

	// custom.
	AuthorizerName string `json:"authorizer_name,omitempty"`
	TokenKeyName   string `json:"token_key_name,omitempty"`
	TokenSigned    *bool  `json:"token_signed,omitempty"`

	// CONNECT and TLS, every method.
	Username string   `json:"username,omitempty"`
	Password string   `json:"password,omitempty"` // **** when one is sent
	ALPN     []string `json:"alpn,omitempty"`
}

// awsCaller is STS GetCallerIdentity's answer.
type awsCaller struct {
	Account string `json:"account"`
	ARN     string `json:"arn"`
	UserID  string `json:"user_id"`
}

const redacted = "****"

func newReport(st *profile.Settings) *report {
	rep := &report{Profile: st.Profile, Settings: []setting{}, Warnings: []string{}}
	for _, e := range st.Entries {
		if e.Source == profile.FromDefault || e.Source == "" {
			continue
		}
		rep.Settings = append(rep.Settings, setting{Name: e.Name, Value: shownValue(e), Source: e.Source})
	}
	return rep
}

// shownValue is a setting's value as whoami prints it: secrets and URL
// passwords (endpoint, proxy) masked.
func shownValue(e profile.Entry) string { return e.Shown() }

func fromIdentity(id *auth.Identity, now time.Time, warn func(string)) *identity {
	out := &identity{ALPN: id.ALPN}
	if id.Certificate != nil {
		out.addCertificate(id.Certificate, id.CertificateSource, now, warn)
	}
	if p := id.PKCS11; p != nil {
		out.PKCS11Module, out.PKCS11TokenLabel, out.PKCS11TokenSerial = p.Module, p.TokenLabel, p.TokenSerial
		out.PKCS11Manufacturer, out.PKCS11Model = p.Manufacturer, p.Model
		out.PKCS11KeyLabel, out.PKCS11KeyID = p.KeyLabel, p.KeyID
		if p.HasSlot {
			slot := p.Slot
			out.PKCS11Slot = &slot
		}
	}
	if a := id.AWS; a != nil {
		out.AccessKeyID, out.CredentialSource = a.AccessKeyID, a.Source
		tmp := a.Temporary
		out.TemporaryCredentials = &tmp
		if a.CanExpire && !a.Expires.IsZero() {
			out.CredentialsExpire = a.Expires.UTC().Format(time.RFC3339)
		}
	}
	out.SigningRegion, out.SigningRegionSource = id.SigningRegion, id.SigningRegionSource
	if c := id.Cognito; c != nil {
		out.CognitoIdentityID, out.CognitoRegion = c.IdentityID, c.Region
		out.CognitoLoginProviders, out.CognitoEndpoint = c.LoginProviders, c.Endpoint
	}
	if c := id.Custom; c != nil {
		out.AuthorizerName, out.TokenKeyName = c.Name, c.TokenKeyName
		signed := c.Signed
		out.TokenSigned = &signed
	}
	if id.HasUsername {
		out.Username = id.Username
	}
	if id.HasPassword {
		out.Password = redacted
	}
	return out
}

// addCertificate describes a client certificate and warns when it is
// outside its validity or within certfile.ExpiryWarning of its end.
func (out *identity) addCertificate(c *x509.Certificate, source string, now time.Time, warn func(string)) {
	out.CertificateSource = source
	out.Subject = c.Subject.String()
	out.Issuer = c.Issuer.String()
	out.SANs = sans(c)
	out.Serial = strings.ToUpper(c.SerialNumber.Text(16))
	out.KeyType = keyType(c)
	out.NotBefore = c.NotBefore.UTC().Format(time.RFC3339)
	out.NotAfter = c.NotAfter.UTC().Format(time.RFC3339)
	days := int(math.Floor(float64(c.NotAfter.Sub(now)) / float64(24*time.Hour)))
	out.DaysLeft = &days
	out.CertificateID = CertificateID(c)

	name := "certificate " + c.Subject.String()
	const layout = "2006-01-02 15:04:05 MST"
	switch {
	case now.Before(c.NotBefore):
		warn(fmt.Sprintf("%s is not valid yet: valid from %s: check the system clock", name, c.NotBefore.UTC().Format(layout)))
	case now.After(c.NotAfter):
		warn(fmt.Sprintf("%s expired on %s: use a current certificate", name, c.NotAfter.UTC().Format(layout)))
	case c.NotAfter.Sub(now) < certfile.ExpiryWarning:
		warn(fmt.Sprintf("%s expires in %s (%s): renew it", name, daysText(days), c.NotAfter.UTC().Format(layout)))
	}
}

// CertificateID is the AWS IoT certificate ID: lower-case hex SHA-256 of
// the DER certificate.
func CertificateID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func daysText(n int) string {
	switch n {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// sans lists the subject alternative names as openssl prints them.
func sans(c *x509.Certificate) []string {
	var out []string
	for _, n := range c.DNSNames {
		out = append(out, "DNS:"+n)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	return out
}

func keyType(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}
