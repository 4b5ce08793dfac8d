package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["sigv4"] = func(s *profile.Settings) (Provider, error) { return newSigV4(s) }
}

const awsCredentialsHint = "set AWS_PROFILE or --aws-profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary keys)"

// sigv4 signs the websocket URL with credentials from aws-sdk-go-v2's
// default chain. The chain is loaded on the first Prepare, not before, so
// other methods never read AWS configuration.
type sigv4 struct {
	ws         awsWebsocket
	awsProfile string
	http       aws.HTTPClient // the proxy rule's (httpclient.go)

	mu    sync.Mutex
	creds aws.CredentialsProvider // the config's CredentialsCache once loaded
}

func newSigV4(s *profile.Settings) (*sigv4, error) {
	ws, err := newAWSWebsocket("sigv4", s, "")
	if err != nil {
		return nil, err
	}
	hc, err := awsHTTPClient(s)
	if err != nil {
		return nil, err
	}
	return &sigv4{ws: *ws, awsProfile: s.AWSProfile, http: hc}, nil
}

func (p *sigv4) Method() string { return "sigv4" }

// Prepare resolves credentials for this attempt: the CredentialsCache
// returns the cached ones until they near expiry, then refreshes them.
func (p *sigv4) Prepare(ctx context.Context) (*Dial, error) {
	provider, err := p.provider(ctx)
	if err != nil {
		return nil, err
	}
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, p.noCredentials(ctx, err)
	}
	return p.ws.dial(creds), nil
}

func (p *sigv4) provider(ctx context.Context) (aws.CredentialsProvider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.creds != nil {
		return p.creds, nil
	}
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(p.http)}
	if p.awsProfile != "" {
		opts = append(opts, config.WithSharedConfigProfile(p.awsProfile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var notExist config.SharedConfigProfileNotExistError
		if errors.As(err, &notExist) {
			return nil, errs.Usagef("sigv4: AWS profile %q not found in the shared config or credentials file: check --aws-profile/AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE", notExist.Profile)
		}
		if name, ok := p.ssoProfile(ctx); ok {
			return nil, errs.Usagef("sigv4: AWS SSO profile %s: %v: run aws sso login --profile %s", name, err, name)
		}
		return nil, errs.Usagef("sigv4: load AWS configuration%s: %v: %s", p.profileNote(), err, awsCredentialsHint)
	}
	if cfg.Credentials == nil {
		return nil, errs.Usagef("sigv4: no AWS credentials%s: %s", p.profileNote(), awsCredentialsHint)
	}
	p.creds = cfg.Credentials
	return p.creds, nil
}

// noCredentials is the error of a credentials chain that gave none: for
// an SSO profile, what the AWS CLI says (run aws sso login); else where
// credentials come from.
func (p *sigv4) noCredentials(ctx context.Context, err error) error {
	if name, ok := p.ssoProfile(ctx); ok {
		return errs.Usagef("sigv4: AWS SSO profile %s is not logged in or its login expired: %v: run aws sso login --profile %s", name, err, name)
	}
	return errs.Usagef("sigv4: no AWS credentials%s: %v: %s", p.profileNote(), err, awsCredentialsHint)
}

// ssoProfile names the AWS profile in use when it is an SSO one
// (sso_session or sso_start_url).
func (p *sigv4) ssoProfile(ctx context.Context) (string, bool) {
	name, _, sc, err := sharedConfig(ctx, p.awsProfile)
	return name, err == nil && (sc.SSOSessionName != "" || sc.SSOStartURL != "")
}

func (p *sigv4) profileNote() string {
	if p.awsProfile == "" {
		return ""
	}
	return " (AWS profile " + strconv.Quote(p.awsProfile) + ")"
}

// awsWebsocket is what sigv4 and cognito share: a region, a transport and a
// URL presigned for each attempt with that attempt's credentials.
type awsWebsocket struct {
	region    string
	regionSrc string // where region came from (ResolveRegion's Source)
	transport Transport
	port      int
	tls       *tls.Config
	now       func() time.Time
}

// newAWSWebsocket checks the endpoint and finds the signing region:
// ResolveRegion's, else fallback (cognito: the identity's).
func newAWSWebsocket(method string, s *profile.Settings, fallbackRegion string) (*awsWebsocket, error) {
	ep, err := profile.ParseEndpoint(s.Endpoint)
	if err != nil {
		return nil, errs.Usagef("%v", err)
	}
	w := &awsWebsocket{transport: WSS, port: 443, now: time.Now}
	switch ep.Scheme {
	case "", "wss":
	case "ws":
		// Plain websockets only reach a local emulator; AWS needs wss.
		w.transport, w.port = WS, 80
	default:
		return nil, errs.Usagef("%s: endpoint %s: %s:// does not fit, %s uses websockets: give a host name or a wss:// URL", method, s.Endpoint, ep.Scheme, method)
	}
	r := ResolveRegion(context.Background(), s)
	if r.Name == "" && fallbackRegion != "" {
		r = Region{Name: fallbackRegion, Source: "cognito identity ID"}
	}
	if r.Name == "" {
		return nil, errs.Usagef("%s: no signing region: endpoint %s is not an AWS IoT endpoint (<prefix>-ats.iot.<region>.amazonaws.com) and neither AWS_REGION nor the AWS profile sets one: give --region", method, ep.Host)
	}
	w.region, w.regionSrc = r.Name, r.Source
	if w.transport == WSS {
		if w.tls, err = baseTLS(s); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// dial returns the attempt's Dial; the URL is signed when the session asks
// for it, so its date is the connection's.
func (w *awsWebsocket) dial(creds aws.Credentials) *Dial {
	d := &Dial{Transport: w.transport, Port: w.port, TLS: cloneTLS(w.tls)}
	d.WebsocketURL = func(ctx context.Context, t Target) (string, http.Header, error) {
		u, err := PresignURL(ctx, creds, hostHeader(t, w.port), w.region, w.now())
		if err != nil {
			return "", nil, err
		}
		if w.transport == WS {
			u = "ws://" + strings.TrimPrefix(u, "wss://")
		}
		return u, nil, nil
	}
	return d
}

// cloneTLS copies a config for one attempt, ALPN list included (Clone
// shares slices).
func cloneTLS(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	c.NextProtos = append([]string(nil), c.NextProtos...)
	return c
}

// hostHeader is the Host value Go's HTTP stack sends for t: host alone on
// the scheme's default port, host:port otherwise.
func hostHeader(t Target, defaultPort int) string {
	if t.Port == 0 || t.Port == defaultPort {
		if strings.Contains(t.Host, ":") {
			return "[" + t.Host + "]"
		}
		return t.Host
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

var regionLabel = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*-[0-9]+$`)
})

// RegionFromEndpoint returns the region of an AWS IoT data endpoint,
// <prefix>.iot.<region>.amazonaws.com[.cn] (iot-fips too); host may carry
// a port.
func RegionFromEndpoint(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	if len(labels) < 5 || labels[0] == "" || (labels[1] != "iot" && labels[1] != "iot-fips") {
		return "", false
	}
	switch strings.Join(labels[3:], ".") {
	case "amazonaws.com", "amazonaws.com.cn":
	default:
		return "", false
	}
	if !regionLabel().MatchString(labels[2]) {
		return "", false
	}
	return labels[2], true
}
