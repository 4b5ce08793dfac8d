package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/iotctl/iotctl/pkg/errs"
)

const (
	// SigV4Service is the service name AWS IoT Core signs websocket URLs with.
	SigV4Service = "iotdevicegateway"
	// emptyPayloadHash is the SHA-256 of the empty string: IoT wants it,
	// not UNSIGNED-PAYLOAD.
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sigV4Algorithm   = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
	// MaxSigV4ClockSkew is how far X-Amz-Date may be from the verifier's clock.
	MaxSigV4ClockSkew = 5 * time.Minute
)

// PresignURL returns wss://<host>/mqtt with a SigV4 query signature for AWS
// IoT Core. host must be exactly the Host header the websocket client will
// send (host:port when the port is not 443). The session token is appended
// after signing and is not part of the signature: IoT rejects URLs whose
// signature covers it.
func PresignURL(ctx context.Context, creds aws.Credentials, host, region string, now time.Time) (string, error) {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return "", errs.Usagef("sign websocket URL: the AWS credentials have no access key ID or secret key: set AWS_PROFILE or --aws-profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if region == "" {
		return "", errs.Usagef("sign websocket URL: no AWS region: give --region")
	}
	if host == "" || strings.ContainsAny(host, "/?#@ \t\r\n") {
		return "", errs.Usagef("sign websocket URL: invalid host %q: give a host name or host:port", host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "wss://"+host+"/mqtt", nil)
	if err != nil {
		return "", errs.Usagef("sign websocket URL for %s: %v", host, err)
	}
	// The wss scheme keeps the signer from dropping a :443 the caller chose
	// to send; it strips default ports only for http and https.
	req.Host = host
	unsigned := creds
	unsigned.SessionToken = ""
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, unsigned, req, emptyPayloadHash, SigV4Service, region, now.UTC())
	if err != nil {
		return "", fmt.Errorf("sign websocket URL for %s: %w", host, err)
	}
	if creds.SessionToken != "" {
		signed += "&X-Amz-Security-Token=" + queryEscape(creds.SessionToken)
	}
	return signed, nil
}

// queryEscape encodes like SigV4's canonical query: spaces as %20.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Principal is who a verified presigned URL was signed by.
type Principal struct {
	AccessKeyID string
	// Region is the signing region; the caller checks it is its own.
	Region string
}

// VerifyPresignedURL checks a websocket upgrade request signed as AWS IoT
// Core expects (see PresignURL) and returns the signer. lookup gives the
// secret key and session token ("" for long-term keys) of an access key ID.
// Canonical headers are rebuilt from X-Amz-SignedHeaders with the values as
// received, so clients that sign connection;host and send a bare Host are
// verified too. Errors are of kind Refused and name no secret.
func VerifyPresignedURL(r *http.Request, lookup func(akid string) (secret, sessionToken string, ok bool), now time.Time) (Principal, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: malformed query: %v", err)
	}
	get := func(k string) (string, error) {
		v := q[k]
		if len(v) != 1 || v[0] == "" {
			return "", errs.Refusedf("SigV4 websocket URL: want exactly one %s query parameter, got %d", k, len(v))
		}
		return v[0], nil
	}
	var alg, cred, date, signedHeaders, sig string
	for _, p := range []struct {
		dst *string
		key string
	}{{&alg, "X-Amz-Algorithm"}, {&cred, "X-Amz-Credential"}, {&date, "X-Amz-Date"}, {&signedHeaders, "X-Amz-SignedHeaders"}, {&sig, "X-Amz-Signature"}} {
		if *p.dst, err = get(p.key); err != nil {
			return Principal{}, err
		}
	}
	if alg != sigV4Algorithm {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: algorithm %q is not %s", alg, sigV4Algorithm)
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: malformed credential scope %q: want AKID/yyyymmdd/region/%s/aws4_request", cred, SigV4Service)
	}
	akid, scopeDate, region, service := scope[0], scope[1], scope[2], scope[3]
	if service != SigV4Service {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: signed for service %q, not %s", service, SigV4Service)
	}
	if region == "" {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: no region in the credential scope")
	}
	signingTime, err := time.Parse(amzDateFormat, date)
	if err != nil {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: malformed X-Amz-Date %q: want yyyymmddThhmmssZ", date)
	}
	if scopeDate != date[:8] {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: credential scope date %s does not match X-Amz-Date %s", scopeDate, date)
	}
	if skew := now.Sub(signingTime); skew > MaxSigV4ClockSkew || skew < -MaxSigV4ClockSkew {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: signed at %s, more than %v from the server's time %s: check the client's clock", signingTime.Format(time.RFC3339), MaxSigV4ClockSkew, now.UTC().Format(time.RFC3339))
	}
	if exp := q.Get("X-Amz-Expires"); exp != "" {
		n, err := strconv.Atoi(exp)
		if err != nil || n < 0 {
			return Principal{}, errs.Refusedf("SigV4 websocket URL: malformed X-Amz-Expires %q", exp)
		}
		if now.After(signingTime.Add(time.Duration(n) * time.Second)) {
			return Principal{}, errs.Refusedf("SigV4 websocket URL: expired %ds after %s", n, signingTime.Format(time.RFC3339))
		}
	}

	secret, token, ok := lookup(akid)
	if !ok {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: unknown access key ID %s", akid)
	}
	gotTokens := q["X-Amz-Security-Token"]
	switch {
	case token == "" && len(gotTokens) > 0:
		return Principal{}, errs.Refusedf("SigV4 websocket URL: access key ID %s takes no session token, but one was sent", akid)
	case token != "" && len(gotTokens) != 1:
		return Principal{}, errs.Refusedf("SigV4 websocket URL: access key ID %s needs its session token (X-Amz-Security-Token)", akid)
	case token != "" && subtle.ConstantTimeCompare([]byte(gotTokens[0]), []byte(token)) != 1:
		return Principal{}, errs.Refusedf("SigV4 websocket URL: the session token does not belong to access key ID %s", akid)
	}

	// Rebuild the request the client signed: its query without the
	// signature and the (unsigned) token, its Host and signed headers as sent.
	signedQuery := url.Values{}
	for k, v := range q {
		if k != "X-Amz-Signature" && k != "X-Amz-Security-Token" {
			signedQuery[k] = v
		}
	}
	re := &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Scheme: "wss", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: signedQuery.Encode()},
		Host:   r.Host,
		Header: http.Header{},
	}
	if re.URL.Path == "" {
		re.URL.Path = "/"
	}
	headerNames := strings.Split(signedHeaders, ";")
	hasHost := false
	for _, h := range headerNames {
		switch {
		case h == "host":
			hasHost = true
		case h == "" || h != strings.ToLower(h):
			return Principal{}, errs.Refusedf("SigV4 websocket URL: malformed X-Amz-SignedHeaders %q", signedHeaders)
		default:
			re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if !hasHost {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: X-Amz-SignedHeaders %q does not include host", signedHeaders)
	}
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	rebuilt, _, err := v4.NewSigner().PresignHTTP(r.Context(), creds, re, emptyPayloadHash, service, region, signingTime,
		func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
	if err != nil {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: recompute signature: %v", err)
	}
	ru, err := url.Parse(rebuilt)
	if err != nil {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: recompute signature: %v", err)
	}
	rq := ru.Query()
	if rq.Get("X-Amz-SignedHeaders") != signedHeaders {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: signed headers %q are not supported (the verifier signs %q)", signedHeaders, rq.Get("X-Amz-SignedHeaders"))
	}
	if subtle.ConstantTimeCompare([]byte(rq.Get("X-Amz-Signature")), []byte(strings.ToLower(sig))) != 1 {
		return Principal{}, errs.Refusedf("SigV4 websocket URL: the signature does not match (access key ID %s, region %s): check the secret key, the region and that the Host header is the one signed", akid, region)
	}
	return Principal{AccessKeyID: akid, Region: region}, nil
}
