package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/smithy-go"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["cognito"] = func(s *profile.Settings) (Provider, error) { return newCognito(s) }
}

// cognitoRefreshWindow: cached Cognito credentials are replaced this long
// before they expire, so a URL is never signed with nearly dead keys.
const cognitoRefreshWindow = 5 * time.Minute

// cognito gets temporary credentials for an identity ID with an unsigned
// GetCredentialsForIdentity call, then signs the websocket URL as sigv4.
//
// Errors: a reply from Cognito saying no (any 4xx other than throttling:
// unknown identity, bad or expired login token) is Refused, exit 4; not
// reaching Cognito, throttling and 5xx are Connect, exit 3; bad settings
// are Usage, exit 2.
type cognito struct {
	ws             awsWebsocket
	identityID     string
	identityRegion string            // the Cognito call's region
	logins         map[string]string // provider → token (secret)
	endpoint       string
	timeout        time.Duration

	// optFns adjust the Cognito client (tests: no retries).
	optFns []func(*cognitoidentity.Options)

	mu     sync.Mutex
	client *cognitoidentity.Client
	cached aws.Credentials
	has    bool
}

func newCognito(s *profile.Settings) (*cognito, error) {
	id := s.CognitoIdentityID
	if id == "" {
		return nil, errs.Usagef("cognito: no identity ID: give --cognito-identity-id region:guid (an identity ID from GetId, not the pool ID)")
	}
	idRegion, guid, ok := strings.Cut(id, ":")
	if !ok || idRegion == "" || guid == "" {
		return nil, errs.Usagef("cognito: identity ID %q is not region:guid: give the identity ID from GetId (not the pool ID)", id)
	}
	logins, err := parseCognitoLogins(s.CognitoLogins)
	if err != nil {
		return nil, err
	}
	if s.CognitoEndpoint != "" {
		u, err := url.Parse(s.CognitoEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errs.Usagef("cognito: --cognito-endpoint %q is not an http(s) URL: give e.g. https://cognito-identity.%s.amazonaws.com", s.CognitoEndpoint, idRegion)
		}
	}
	ws, err := newAWSWebsocket("cognito", s, idRegion)
	if err != nil {
		return nil, err
	}
	return &cognito{
		ws:             *ws,
		identityID:     id,
		identityRegion: idRegion,
		logins:         logins,
		endpoint:       s.CognitoEndpoint,
		timeout:        s.ConnectTimeout,
	}, nil
}

// parseCognitoLogins splits provider=token entries. Messages name the
// entry's position and provider, never its token.
func parseCognitoLogins(entries []string) (map[string]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	logins := make(map[string]string, len(entries))
	for i, e := range entries {
		provider, token, ok := strings.Cut(e, "=")
		provider = strings.TrimSpace(provider)
		if !ok || provider == "" || token == "" {
			return nil, errs.Usagef("cognito: --cognito-login entry %d is not provider=token: give e.g. --cognito-login accounts.google.com=<id token>", i+1)
		}
		if _, dup := logins[provider]; dup {
			return nil, errs.Usagef("cognito: --cognito-login names provider %s twice: give one token per provider", provider)
		}
		logins[provider] = token
	}
	return logins, nil
}

func (p *cognito) Method() string { return "cognito" }

func (p *cognito) Prepare(ctx context.Context) (*Dial, error) {
	creds, err := p.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return p.ws.dial(creds), nil
}

// credentials returns the cached credentials until cognitoRefreshWindow
// before they expire, then asks Cognito again.
func (p *cognito) credentials(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.has && (!p.cached.CanExpire || p.ws.now().Before(p.cached.Expires.Add(-cognitoRefreshWindow))) {
		return p.cached, nil
	}
	if p.client == nil {
		opts := cognitoidentity.Options{Region: p.identityRegion, Credentials: aws.AnonymousCredentials{}}
		if p.endpoint != "" {
			opts.BaseEndpoint = aws.String(p.endpoint)
		}
		if c := awsHTTPClient(); c != nil {
			opts.HTTPClient = c
		}
		p.client = cognitoidentity.New(opts, p.optFns...)
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	out, err := p.client.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{
		IdentityId: aws.String(p.identityID),
		Logins:     p.logins,
	})
	if err != nil {
		return aws.Credentials{}, p.classify(ctx, err)
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SecretKey) == "" {
		return aws.Credentials{}, errs.Connectf("cognito: GetCredentialsForIdentity for %s returned no credentials: check --cognito-endpoint", p.identityID)
	}
	p.cached = aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Source:          "cognito",
	}
	if c.Expiration != nil {
		p.cached.CanExpire, p.cached.Expires = true, *c.Expiration
	}
	p.has = true
	return p.cached, nil
}

// classify turns a failed call into a kinded error without secrets.
func (p *cognito) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	where := p.endpoint
	if where == "" {
		where = "cognito-identity." + p.identityRegion + ".amazonaws.com"
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return errs.Connectf("cognito: GetCredentialsForIdentity at %s: %s: check the network, the region (%s) and --cognito-endpoint", where, p.redact(transportCause(err).Error()), p.identityRegion)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	what := fmt.Sprintf("cognito: GetCredentialsForIdentity for %s: %s: %s", p.identityID, ae.ErrorCode(), strings.TrimRight(p.redact(ae.ErrorMessage()), "."))
	switch code := ae.ErrorCode(); {
	case code == "ResourceNotFoundException":
		return errs.Refusedf("%s: --cognito-identity-id needs an identity ID (region:guid returned by GetId), not an identity pool ID, in region %s", what, p.identityRegion)
	case code == "NotAuthorizedException":
		if len(p.logins) == 0 {
			return errs.Refusedf("%s: an authenticated identity needs --cognito-login provider=token, or the pool must allow unauthenticated identities", what)
		}
		return errs.Refusedf("%s: check the --cognito-login providers and that their tokens are current", what)
	case code == "TooManyRequestsException" || status == 429 || status >= 500:
		return errs.Connectf("%s: try again later", what)
	case status >= 400 || status == 0:
		return errs.Refusedf("%s: check --cognito-identity-id and --cognito-login", what)
	}
	return errs.Connectf("%s", what)
}

// transportCause is the network error under the SDK's wrapping, when it
// is one: "dial tcp …: connection refused" rather than three layers.
func transportCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact removes login tokens from text the service or the SDK produced.
func (p *cognito) redact(s string) string {
	for _, tok := range p.logins {
		if len(tok) >= 4 {
			s = strings.ReplaceAll(s, tok, "****")
		}
	}
	return s
}
