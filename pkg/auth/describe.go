package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// Identity is who a Provider presents itself as to the endpoint, for
// whoami. It never holds a secret: passwords, tokens and signatures are
// only said to be set, access key IDs are masked. Fields that do not apply
// to the method are zero.
type Identity struct {
	Method string
	// Transport and Port are the method's defaults (the endpoint and --port
	// may override the port); ALPN is what the TLS handshake offers.
	Transport Transport
	Port      int
	ALPN      []string
	// SigningRegion is the region websocket URLs are signed for (sigv4,
	// cognito); SigningRegionSource says where it came from (ResolveRegion).
	SigningRegion       string
	SigningRegionSource string

	// Certificate is the client certificate of mtls, pkcs11, pkcs12 and
	// winstore; CertificateSource says where it was read.
	Certificate       *x509.Certificate
	CertificateSource string

	// Username is the CONNECT username, custom-authorizer token value and
	// signature replaced by ****; HasPassword says a password is sent.
	Username    string
	HasUsername bool
	HasPassword bool

	PKCS11  *PKCS11Identity
	AWS     *AWSCredentials
	Cognito *CognitoIdentity
	Custom  *CustomAuthorizer
}

// PKCS11Identity is the token and key a pkcs11 provider signs with.
type PKCS11Identity struct {
	Module       string
	Slot         uint
	HasSlot      bool
	TokenLabel   string
	TokenSerial  string
	Manufacturer string
	Model        string
	KeyLabel     string
	KeyID        string // hex
}

// AWSCredentials describes the credentials a websocket URL is signed with.
type AWSCredentials struct {
	AccessKeyID string // masked by MaskAccessKeyID
	Source      string // the SDK's credentials source, e.g. EnvConfigCredentials
	Temporary   bool   // a session token comes with them
	Expires     time.Time
	CanExpire   bool
}

// CognitoIdentity is the Cognito identity credentials are asked for.
type CognitoIdentity struct {
	IdentityID     string
	Region         string
	LoginProviders []string // sorted; the tokens are never shown
	Endpoint       string   // --cognito-endpoint, when set
}

// CustomAuthorizer is a custom authorizer's part of the CONNECT username.
type CustomAuthorizer struct {
	Name         string
	TokenKeyName string
	Signed       bool // token value and signature are sent
}

// DescribeOptions tune Describe.
type DescribeOptions struct {
	// Network allows calls to AWS services Describe needs for some methods
	// (Cognito GetCredentialsForIdentity). Without it those parts are left
	// out; local credential sources (env, files) are read either way.
	Network bool
}

// Describer is a Provider that can say who it authenticates as.
type Describer interface {
	Describe(ctx context.Context, o DescribeOptions) (*Identity, error)
}

// Describe says who p authenticates as: its Describer when it has one,
// else the method and the certificate of a CertificateProvider.
func Describe(ctx context.Context, p Provider, o DescribeOptions) (*Identity, error) {
	if d, ok := p.(Describer); ok {
		return d.Describe(ctx, o)
	}
	id := &Identity{Method: p.Method()}
	if cp, ok := p.(CertificateProvider); ok {
		id.Certificate = cp.Leaf()
	}
	return id, nil
}

// CallerIdentity is what STS GetCallerIdentity says about AWS credentials.
type CallerIdentity struct {
	Account string
	ARN     string
	UserID  string
}

// CallerIdentifier is a Provider with AWS credentials (sigv4, cognito).
type CallerIdentifier interface {
	// CallerIdentity calls STS GetCallerIdentity with the provider's
	// credentials; endpoint overrides STS's regional endpoint.
	CallerIdentity(ctx context.Context, endpoint string) (*CallerIdentity, error)
}

// MaskAccessKeyID shows an access key ID's first and last four characters.
func MaskAccessKeyID(id string) string {
	if len(id) <= 8 {
		return "****"
	}
	return id[:4] + "…" + id[len(id)-4:]
}

// RedactCustomAuthUsername replaces the token value and the signature of a
// custom-authorizer username with ****, keeping the base, the authorizer
// name, the token key name and the metrics.
func RedactCustomAuthUsername(u string) string {
	base, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	p, err := ParseCustomAuthUsername(u)
	parts := strings.Split(query, "&")
	for i, part := range parts {
		k, _, hasValue := strings.Cut(part, "=")
		secret := err != nil || k == customAuthSignatureParam || (p.TokenKeyName != "" && k == p.TokenKeyName)
		if secret && hasValue {
			parts[i] = k + "=****"
		}
	}
	return base + "?" + strings.Join(parts, "&")
}

// InspectCertificate reads the client certificate the settings name for a
// certificate method without checking its dates or building a provider,
// so that whoami can still describe an expired certificate. ok is false
// for methods whose certificate cannot be read this way (pkcs11 without
// --cert, winstore, non-certificate methods).
func InspectCertificate(s *profile.Settings) (c *x509.Certificate, source string, ok bool, err error) {
	method, _, err := Method(s)
	if err != nil {
		return nil, "", false, err
	}
	var chain []*x509.Certificate
	switch {
	case (method == "mtls" || method == "pkcs11") && s.Cert != "":
		source = "certificate file " + s.Cert
		chain, err = certfile.LoadChain(s.Cert)
	case method == "pkcs12" && s.PKCS12File != "":
		source = "PKCS#12 file " + s.PKCS12File
		chain, _, err = certfile.LoadPKCS12(s.PKCS12File, s.PKCS12Password)
	default:
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	return chain[0], source, true, nil
}

func describeDial(method string, d *Dial) *Identity {
	id := &Identity{Method: method, Transport: d.Transport, Port: d.Port, Username: d.Username, HasUsername: d.HasUsername, HasPassword: d.HasPassword}
	if d.TLS != nil {
		id.ALPN = slices.Clone(d.TLS.NextProtos)
	}
	return id
}

func (p *certProvider) Describe(context.Context, DescribeOptions) (*Identity, error) {
	id := describeDial(p.method, &p.dial)
	id.Certificate, id.CertificateSource = p.leaf, p.source
	return id, nil
}

func (p *plain) Describe(context.Context, DescribeOptions) (*Identity, error) {
	return describeDial(p.method, &p.dial), nil
}

func (p *custom) Describe(context.Context, DescribeOptions) (*Identity, error) {
	id := describeDial("custom", &p.dial)
	id.Username = RedactCustomAuthUsername(p.dial.Username)
	if params, err := ParseCustomAuthUsername(p.dial.Username); err == nil {
		id.Custom = &CustomAuthorizer{Name: params.AuthorizerName, TokenKeyName: params.TokenKeyName, Signed: params.Signature != ""}
	}
	return id, nil
}

func (w *awsWebsocket) describe(method string) *Identity {
	id := &Identity{Method: method, Transport: w.transport, Port: w.port, SigningRegion: w.region, SigningRegionSource: w.regionSrc}
	if w.tls != nil {
		id.ALPN = slices.Clone(w.tls.NextProtos)
	}
	return id
}

func describeCredentials(c aws.Credentials) *AWSCredentials {
	return &AWSCredentials{
		AccessKeyID: MaskAccessKeyID(c.AccessKeyID),
		Source:      c.Source,
		Temporary:   c.SessionToken != "",
		Expires:     c.Expires,
		CanExpire:   c.CanExpire,
	}
}

// Describe reads the credentials from the default chain (env, files, and
// whatever the AWS profile names), as the first connection would.
func (p *sigv4) Describe(ctx context.Context, _ DescribeOptions) (*Identity, error) {
	id := p.ws.describe("sigv4")
	provider, err := p.provider(ctx)
	if err != nil {
		return id, err
	}
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return id, ctx.Err()
		}
		return id, p.noCredentials(ctx, err)
	}
	id.AWS = describeCredentials(creds)
	return id, nil
}

func (p *sigv4) CallerIdentity(ctx context.Context, endpoint string) (*CallerIdentity, error) {
	provider, err := p.provider(ctx)
	if err != nil {
		return nil, err
	}
	return callerIdentity(ctx, provider, p.http, p.ws.region, endpoint, nil)
}

// Describe names the identity; with o.Network it also gets the identity's
// credentials (GetCredentialsForIdentity), which says when they expire.
func (p *cognito) Describe(ctx context.Context, o DescribeOptions) (*Identity, error) {
	id := p.ws.describe("cognito")
	ci := &CognitoIdentity{IdentityID: p.identityID, Region: p.identityRegion, Endpoint: p.endpoint}
	for provider := range p.logins {
		ci.LoginProviders = append(ci.LoginProviders, provider)
	}
	slices.Sort(ci.LoginProviders)
	id.Cognito = ci
	if !o.Network {
		return id, nil
	}
	creds, err := p.credentials(ctx)
	if err != nil {
		return id, err
	}
	id.AWS = describeCredentials(creds)
	return id, nil
}

func (p *cognito) CallerIdentity(ctx context.Context, endpoint string) (*CallerIdentity, error) {
	provider := aws.CredentialsProviderFunc(p.credentials)
	return callerIdentity(ctx, provider, p.http, p.ws.region, endpoint, p.redact)
}

// callerIdentity calls STS GetCallerIdentity in region (or at endpoint).
// A reply saying no is Refused (exit 4), not reaching STS is Connect.
func callerIdentity(ctx context.Context, creds aws.CredentialsProvider, hc aws.HTTPClient, region, endpoint string, redact func(string) string) (*CallerIdentity, error) {
	o := sts.Options{Region: region, Credentials: creds, HTTPClient: hc}
	where := "sts." + region + ".amazonaws.com"
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errs.Usagef("--sts-endpoint %q is not an http(s) URL: give e.g. https://sts.%s.amazonaws.com", endpoint, region)
		}
		o.BaseEndpoint = aws.String(endpoint)
		where = endpoint
	}
	out, err := sts.New(o).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		if redact == nil {
			redact = func(s string) string { return s }
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, ctx.Err()
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			// No reply: a credentials error (already kinded) or the network.
			// The kinded error itself (a proxy's refusal, say), not the
			// SDK's three layers around it.
			var ke *errs.Error
			if errors.As(err, &ke) {
				return nil, ke
			}
			return nil, errs.Connectf("sts: GetCallerIdentity at %s: %s: check the network, the region (%s) and --sts-endpoint", where, redact(transportCause(err).Error()), region)
		}
		what := "sts: GetCallerIdentity: " + ae.ErrorCode() + ": " + strings.TrimRight(redact(ae.ErrorMessage()), ".")
		var re *awshttp.ResponseError
		if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429) {
			return nil, errs.Connectf("%s: try again later", what)
		}
		return nil, errs.Refusedf("%s: the AWS credentials are not valid (expired, deleted or mistyped)", what)
	}
	return &CallerIdentity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId)}, nil
}
