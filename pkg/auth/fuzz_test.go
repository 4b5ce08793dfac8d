package auth

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// FuzzPresignURL signs websocket URLs for any credentials, host, region and
// time, parses each URL back as the emulator would receive it, and checks
// that VerifyPresignedURL accepts it for the right secret and token and
// refuses it for a wrong secret.
func FuzzPresignURL(f *testing.F) {
	f.Add("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", "a1b2c3-ats.iot.us-east-1.amazonaws.com", "us-east-1", int64(1795000000))
	f.Add("ASIAEXAMPLE", "secret", "FwoGZXIvYXdzE+/tok en==", "127.0.0.1:8443", "eu-west-1", int64(1795000000))
	f.Add("AKID", "s", "t%2F&x=y", "[::1]:443", "cn-north-1", int64(946684800))
	f.Add("AK", "s p a c e", "\xff\x00", "localhost", "us-gov-west-1", int64(4102444800))
	f.Fuzz(func(t *testing.T, akid, secret, token, host, region string, unix int64) {
		now := time.Unix(946684800+(unix%(200*365*86400)+200*365*86400)%(200*365*86400), 0).UTC()
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
		u, err := PresignURL(context.Background(), creds, host, region, now)
		if err != nil {
			return
		}
		if !plausible(akid, region, host) {
			// PresignURL signs these too (reported as a bug): the verifier
			// cannot parse the scope, or the client would send another Host.
			t.Logf("signed for an implausible access key ID, region or host: %q %q %q", akid, region, host)
			return
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("PresignURL returned %q, which does not parse: %v", u, err)
		}
		if pu.Hostname() == "" {
			// PresignURL accepts a host such as ":" and signs a URL with no
			// host (reported as a bug): nothing to connect to or verify.
			t.Logf("signed a URL with no host for %q: %s", host, u)
			return
		}
		if pu.Scheme != "wss" || pu.Path != "/mqtt" {
			t.Fatalf("URL %q: want wss://…/mqtt", u)
		}
		// What the server sees: the request line's path and query, and the
		// Host header the client sends (the host it signed).
		r, err := http.NewRequest(http.MethodGet, "http://placeholder"+pu.RequestURI(), nil)
		if err != nil {
			t.Fatalf("request for %q: %v", u, err)
		}
		r.Host = pu.Host
		lookup := func(secretFor, tokenFor string) func(string) (string, string, bool) {
			return func(id string) (string, string, bool) {
				if id != akid {
					return "", "", false
				}
				return secretFor, tokenFor, true
			}
		}
		p, err := VerifyPresignedURL(r, lookup(secret, token), now)
		if err != nil {
			t.Fatalf("VerifyPresignedURL refused a URL PresignURL made:\n%s\n%v", u, err)
		}
		if p.AccessKeyID != akid || p.Region != region {
			t.Fatalf("principal %+v, want %s in %s", p, akid, region)
		}
		if _, err := VerifyPresignedURL(r, lookup(secret+"x", token), now); err == nil {
			t.Fatalf("VerifyPresignedURL accepted %q with a wrong secret", u)
		}
		if token != "" && strings.Contains(u, "X-Amz-Signature") {
			if _, err := VerifyPresignedURL(r, lookup(secret, token+"x"), now); err == nil {
				t.Fatalf("VerifyPresignedURL accepted %q with a wrong session token", u)
			}
		}
	})
}

// plausible: an access key ID and region that fit in a credential scope
// (AKID/date/region/service/aws4_request) and a host made of host-name,
// IP literal and port characters. PresignURL checks none of this beyond a
// few characters (see the report).
func plausible(akid, region, host string) bool {
	if strings.Contains(akid, "/") || strings.Contains(region, "/") {
		return false
	}
	return hostRE.MatchString(host)
}

// hostRE is a host name or IP literal with an optional numeric port, as
// hostHeader writes it.
var hostRE = regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)
