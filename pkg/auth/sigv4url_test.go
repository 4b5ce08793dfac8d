package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/iotctl/iotctl/pkg/errs"
)

var (
	testClock   = time.Date(2026, 11, 25, 12, 34, 56, 0, time.UTC)
	testCreds   = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "FwoGZXIvYXdzE+/tok en=="}
	testIoTHost = "a1b2c3-ats.iot.us-east-1.amazonaws.com"
)

// refSign is an independent SigV4 query signature of GET /mqtt, written
// from the AWS documentation: canonical request, string to sign, HMAC
// chain. headers are the signed headers besides host, lower-case name →
// value. It returns the raw query without the token.
func refSign(akid, secret, host, region, service string, now time.Time, headers map[string]string) string {
	amzDate := now.UTC().Format("20060102T150405Z")
	day := amzDate[:8]
	scope := day + "/" + region + "/" + service + "/aws4_request"
	names := []string{"host"}
	values := map[string]string{"host": host}
	for k, v := range headers {
		names = append(names, k)
		values[k] = v
	}
	sort.Strings(names)
	signedHeaders := strings.Join(names, ";")
	query := []string{
		"X-Amz-Algorithm=AWS4-HMAC-SHA256",
		"X-Amz-Credential=" + uriEncode(akid+"/"+scope),
		"X-Amz-Date=" + amzDate,
		"X-Amz-SignedHeaders=" + uriEncode(signedHeaders),
	}
	canonicalQuery := strings.Join(query, "&") // already in byte order
	var canonicalHeaders strings.Builder
	for _, n := range names {
		canonicalHeaders.WriteString(n + ":" + strings.TrimSpace(values[n]) + "\n")
	}
	emptyHash := sha256.Sum256(nil)
	canonicalRequest := strings.Join([]string{"GET", "/mqtt", canonicalQuery, canonicalHeaders.String(), signedHeaders, hex.EncodeToString(emptyHash[:])}, "\n")
	crHash := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, scope, hex.EncodeToString(crHash[:])}, "\n")
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), service), "aws4_request")
	return canonicalQuery + "&X-Amz-Signature=" + hex.EncodeToString(mac(key, stringToSign))
}

// uriEncode is SigV4's encoding: unreserved characters kept, the rest %XX.
func uriEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func TestPresignURLMatchesIndependentSignature(t *testing.T) {
	for _, host := range []string{testIoTHost, "127.0.0.1:8443", "[::1]:8443", "broker.example.com:443"} {
		t.Run(host, func(t *testing.T) {
			got, err := PresignURL(context.Background(), testCreds, host, "us-east-1", testClock)
			if err != nil {
				t.Fatal(err)
			}
			want := "wss://" + host + "/mqtt?" + refSign(testCreds.AccessKeyID, testCreds.SecretAccessKey, host, "us-east-1", "iotdevicegateway", testClock, nil) +
				"&X-Amz-Security-Token=" + uriEncode(testCreds.SessionToken)
			if got != want {
				t.Errorf("PresignURL =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestPresignURLShape(t *testing.T) {
	got, err := PresignURL(context.Background(), testCreds, testIoTHost, "us-east-1", testClock)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "wss" || u.Host != testIoTHost || u.Path != "/mqtt" {
		t.Errorf("URL %s: want wss://%s/mqtt", got, testIoTHost)
	}
	q := u.Query()
	for k, v := range map[string]string{
		"X-Amz-Algorithm":      "AWS4-HMAC-SHA256",
		"X-Amz-Credential":     "AKIDEXAMPLE/20261125/us-east-1/iotdevicegateway/aws4_request",
		"X-Amz-Date":           "20261125T123456Z",
		"X-Amz-SignedHeaders":  "host",
		"X-Amz-Security-Token": testCreds.SessionToken,
	} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Has("X-Amz-Expires") {
		t.Errorf("X-Amz-Expires present in %s", got)
	}
	// The token follows the signature: it is not part of what was signed.
	sigAt := strings.Index(got, "&X-Amz-Signature=")
	tokAt := strings.Index(got, "&X-Amz-Security-Token=")
	if sigAt < 0 || tokAt < sigAt {
		t.Errorf("token not after the signature in %s", got)
	}
	if strings.Contains(got, testCreds.SecretAccessKey) || strings.Contains(got, url.QueryEscape(testCreds.SecretAccessKey)) {
		t.Errorf("secret key in URL %s", got)
	}

	// Without a session token, no token parameter.
	long := testCreds
	long.SessionToken = ""
	got, err = PresignURL(context.Background(), long, testIoTHost, "us-east-1", testClock)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "X-Amz-Security-Token") {
		t.Errorf("token parameter without a token: %s", got)
	}
}

func TestPresignURLErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		creds        aws.Credentials
		host, region string
	}{
		"no key":       {aws.Credentials{SecretAccessKey: "s"}, testIoTHost, "us-east-1"},
		"no secret":    {aws.Credentials{AccessKeyID: "AKID"}, testIoTHost, "us-east-1"},
		"no region":    {testCreds, testIoTHost, ""},
		"no host":      {testCreds, "", "us-east-1"},
		"path in host": {testCreds, "h/x", "us-east-1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := PresignURL(context.Background(), tc.creds, tc.host, tc.region, testClock)
			wantKind(t, err, errs.Usage)
		})
	}
}

// upgradeRequest is the request a websocket client sends for rawURL, with
// Host as given (it may differ from the URL's, as aws-crt's does).
func upgradeRequest(t *testing.T, rawURL, host string, header http.Header) *http.Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, u.RequestURI(), nil)
	r.Host = host
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}

func lookupFor(creds aws.Credentials) func(string) (string, string, bool) {
	return func(akid string) (string, string, bool) {
		if akid != creds.AccessKeyID {
			return "", "", false
		}
		return creds.SecretAccessKey, creds.SessionToken, true
	}
}

func TestVerifyPresignedURL(t *testing.T) {
	ctx := context.Background()
	signed, err := PresignURL(ctx, testCreds, "127.0.0.1:8443", "us-east-1", testClock)
	if err != nil {
		t.Fatal(err)
	}
	long := testCreds
	long.SessionToken = ""
	signedLong, err := PresignURL(ctx, long, "127.0.0.1:8443", "us-east-1", testClock)
	if err != nil {
		t.Fatal(err)
	}
	euWest, err := PresignURL(ctx, testCreds, "127.0.0.1:8443", "eu-west-1", testClock)
	if err != nil {
		t.Fatal(err)
	}
	// aws-sdk-go-v2's own presign puts the token in the signed query, which
	// IoT rejects: so must the emulator.
	req, _ := http.NewRequest(http.MethodGet, "wss://127.0.0.1:8443/mqtt", nil)
	tokenSigned, _, err := v4.NewSigner().PresignHTTP(ctx, testCreds, req, emptyPayloadHash, SigV4Service, "us-east-1", testClock)
	if err != nil {
		t.Fatal(err)
	}
	token := "&X-Amz-Security-Token=" + uriEncode(testCreds.SessionToken)
	// aws-crt signs connection;host and sends the bare host on any port.
	crt := "wss://127.0.0.1:8443/mqtt?" + refSign(testCreds.AccessKeyID, testCreds.SecretAccessKey, "127.0.0.1", "us-east-1", SigV4Service, testClock, map[string]string{"connection": "Upgrade"}) + token
	otherService := "wss://127.0.0.1:8443/mqtt?" + refSign(testCreds.AccessKeyID, testCreds.SecretAccessKey, "127.0.0.1:8443", "us-east-1", "execute-api", testClock, nil) + token
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}

	wrongSecret := testCreds
	wrongSecret.SecretAccessKey = "not-the-secret"
	wrongToken := testCreds
	wrongToken.SessionToken = "another-token"

	tamperSig := func(s string) string {
		i := strings.Index(s, "X-Amz-Signature=") + len("X-Amz-Signature=")
		c := "0"
		if s[i] == '0' {
			c = "1"
		}
		return s[:i] + c + s[i+1:]
	}

	for _, tc := range []struct {
		name   string
		url    string
		host   string
		header http.Header
		lookup aws.Credentials
		now    time.Time
		region string // want, on success
		errHas string // want, on failure
	}{
		{name: "ok", url: signed, host: "127.0.0.1:8443", lookup: testCreds, now: testClock, region: "us-east-1"},
		{name: "ok with upgrade headers", url: signed, host: "127.0.0.1:8443", header: upgrade, lookup: testCreds, now: testClock, region: "us-east-1"},
		{name: "ok long-term key", url: signedLong, host: "127.0.0.1:8443", lookup: long, now: testClock, region: "us-east-1"},
		{name: "ok 4m59s late", url: signed, host: "127.0.0.1:8443", lookup: testCreds, now: testClock.Add(5*time.Minute - time.Second), region: "us-east-1"},
		{name: "ok aws-crt style", url: crt, host: "127.0.0.1", header: upgrade, lookup: testCreds, now: testClock, region: "us-east-1"},
		{name: "region is reported", url: euWest, host: "127.0.0.1:8443", lookup: testCreds, now: testClock, region: "eu-west-1"},
		{name: "tampered signature", url: tamperSig(signed), host: "127.0.0.1:8443", lookup: testCreds, now: testClock, errHas: "signature does not match"},
		{name: "wrong secret", url: signed, host: "127.0.0.1:8443", lookup: wrongSecret, now: testClock, errHas: "signature does not match"},
		{name: "region changed after signing", url: strings.Replace(signed, "%2Fus-east-1%2F", "%2Fus-west-2%2F", 1), host: "127.0.0.1:8443", lookup: testCreds, now: testClock, errHas: "signature does not match"},
		{name: "other host", url: signed, host: "127.0.0.1", lookup: testCreds, now: testClock, errHas: "signature does not match"},
		{name: "unknown key", url: signed, host: "127.0.0.1:8443", lookup: aws.Credentials{AccessKeyID: "AKIDOTHER"}, now: testClock, errHas: "unknown access key ID AKIDEXAMPLE"},
		{name: "wrong service", url: otherService, host: "127.0.0.1:8443", lookup: testCreds, now: testClock, errHas: `service "execute-api"`},
		{name: "expired", url: signed, host: "127.0.0.1:8443", lookup: testCreds, now: testClock.Add(5*time.Minute + time.Second), errHas: "more than 5m0s"},
		{name: "from the future", url: signed, host: "127.0.0.1:8443", lookup: testCreds, now: testClock.Add(-6 * time.Minute), errHas: "more than 5m0s"},
		{name: "wrong token", url: signed, host: "127.0.0.1:8443", lookup: wrongToken, now: testClock, errHas: "session token does not belong"},
		{name: "token missing", url: signedLong, host: "127.0.0.1:8443", lookup: testCreds, now: testClock, errHas: "needs its session token"},
		{name: "token not expected", url: signed, host: "127.0.0.1:8443", lookup: long, now: testClock, errHas: "takes no session token"},
		{name: "token signed", url: tokenSigned, host: "127.0.0.1:8443", lookup: testCreds, now: testClock, errHas: "signature does not match"},
		{name: "aws-crt style without connection header", url: crt, host: "127.0.0.1", lookup: testCreds, now: testClock, errHas: "signature does not match"},
		{name: "no signature", url: strings.Replace(signed, "X-Amz-Signature", "X-Amz-Other", 1), host: "127.0.0.1:8443", lookup: testCreds, now: testClock, errHas: "X-Amz-Signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := upgradeRequest(t, tc.url, tc.host, tc.header)
			p, err := VerifyPresignedURL(r, lookupFor(tc.lookup), tc.now)
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p != (Principal{AccessKeyID: "AKIDEXAMPLE", Region: tc.region}) {
					t.Errorf("principal = %+v", p)
				}
				return
			}
			wantKind(t, err, errs.Refused)
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %q does not mention %q", err, tc.errHas)
			}
			for _, secret := range []string{testCreds.SecretAccessKey, testCreds.SessionToken, wrongToken.SessionToken, wrongSecret.SecretAccessKey} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}
