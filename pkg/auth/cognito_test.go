package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/pkg/errs"
)

const (
	testIdentity   = "us-west-2:0a1b2c3d-1111-2222-3333-444455556666"
	testLoginToken = "eyJhbGciOiJSUzI1NiJ9.secret-login-token.sig"
)

// cognitoForTest returns a cognito provider for the flags against the fake,
// without retries and on a clock the test moves.
func cognitoForTest(t *testing.T, endpoint string, flags map[string][]string, now *time.Time) *cognito {
	t.Helper()
	all := map[string][]string{"cognito-identity-id": {testIdentity}, "cognito-endpoint": {endpoint}}
	for k, v := range flags {
		all[k] = v
	}
	p, err := newCognito(settingsForAWSTest(t, all))
	if err != nil {
		t.Fatal(err)
	}
	p.optFns = append(p.optFns, func(o *cognitoidentity.Options) { o.Retryer = aws.NopRetryer{} })
	p.ws.now = func() time.Time { return *now }
	return p
}

// rotatingIdentity hands out a new key per call, valid for an hour from
// the test clock.
func rotatingIdentity(logins map[string]string, now *time.Time) (awsfake.Identity, *atomic.Int32) {
	var n atomic.Int32
	return awsfake.Identity{Logins: logins, Credentials: func() awsfake.CognitoCredentials {
		i := n.Add(1)
		return awsfake.CognitoCredentials{
			AccessKeyID: fmt.Sprintf("ASIACOGNITO%d", i), SecretKey: "cognito-secret", SessionToken: fmt.Sprintf("cognito-token-%d", i),
			Expiration: now.Add(time.Hour),
		}
	}}, &n
}

func TestCognitoCredentialsAndCache(t *testing.T) {
	now := testClock
	logins := map[string]string{"accounts.google.com": testLoginToken, "graph.facebook.com": "fb=token"}
	id, issued := rotatingIdentity(logins, &now)
	fake := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{testIdentity: id}))
	p := cognitoForTest(t, fake.URL, map[string][]string{
		"endpoint":      {"abc-ats.iot.eu-west-1.amazonaws.com"},
		"cognito-login": {"accounts.google.com=" + testLoginToken, "graph.facebook.com=fb=token"},
	}, &now)
	target := Target{Host: "abc-ats.iot.eu-west-1.amazonaws.com", Port: 443}

	d, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	akid, u := presignedKey(t, d, target)
	if akid != "ASIACOGNITO1" || u.Query().Get("X-Amz-Security-Token") != "cognito-token-1" {
		t.Errorf("URL %s: want Cognito's first key and token", u)
	}
	if !strings.Contains(u.Query().Get("X-Amz-Credential"), "/eu-west-1/iotdevicegateway/") {
		t.Errorf("signed for %s, want the endpoint's region eu-west-1", u.Query().Get("X-Amz-Credential"))
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].IdentityId != testIdentity || calls[0].Signed || len(calls[0].Logins) != 2 || calls[0].Logins["graph.facebook.com"] != "fb=token" {
		t.Fatalf("calls = %+v", calls)
	}

	// Reused until five minutes before expiry…
	now = testClock.Add(54*time.Minute + 59*time.Second)
	d, err = p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if akid, _ := presignedKey(t, d, target); akid != "ASIACOGNITO1" || issued.Load() != 1 {
		t.Errorf("at +54m59s: key %s after %d calls, want the cached key", akid, issued.Load())
	}
	// …then fetched again.
	now = testClock.Add(55 * time.Minute)
	d, err = p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if akid, _ := presignedKey(t, d, target); akid != "ASIACOGNITO2" || issued.Load() != 2 {
		t.Errorf("at +55m: key %s after %d calls, want a fresh key", akid, issued.Load())
	}
	// The URL is signed on the attempt's clock.
	if got := presignedDate(t, d, target); got != now.Format("20060102T150405Z") {
		t.Errorf("X-Amz-Date %s, want %s", got, now.Format("20060102T150405Z"))
	}
}

func presignedDate(t *testing.T, d *Dial, target Target) string {
	_, u := presignedKey(t, d, target)
	return u.Query().Get("X-Amz-Date")
}

func TestCognitoRegion(t *testing.T) {
	fake := awsfake.NewCognito(t, func(awsfake.GetCredentialsForIdentityInput) (awsfake.CognitoCredentials, error) {
		return awsfake.CognitoCredentials{}, errors.New("unused")
	})
	now := testClock
	for _, tc := range []struct {
		flags map[string][]string
		want  string
	}{
		{map[string][]string{}, "us-west-2"}, // localhost: the identity's region
		{map[string][]string{"endpoint": {"abc-ats.iot.eu-west-1.amazonaws.com"}}, "eu-west-1"},
		{map[string][]string{"endpoint": {"abc-ats.iot.eu-west-1.amazonaws.com"}, "region": {"ap-south-1"}}, "ap-south-1"},
	} {
		p := cognitoForTest(t, fake.URL, tc.flags, &now)
		if p.ws.region != tc.want || p.identityRegion != "us-west-2" {
			t.Errorf("%v: signing region %s, Cognito region %s; want %s, us-west-2", tc.flags, p.ws.region, p.identityRegion, tc.want)
		}
	}
}

func TestCognitoRefused(t *testing.T) {
	now := testClock
	id, _ := rotatingIdentity(map[string]string{"accounts.google.com": testLoginToken}, &now)
	fake := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{testIdentity: id}))
	const wrongToken = "eyJ.wrong-login-token.sig"
	for _, tc := range []struct {
		name     string
		flags    map[string][]string
		mentions []string
	}{
		{"wrong login", map[string][]string{"cognito-login": {"accounts.google.com=" + wrongToken}}, []string{"NotAuthorizedException", "--cognito-login"}},
		{"no login", map[string][]string{}, []string{"NotAuthorizedException", "--cognito-login"}},
		{"pool ID", map[string][]string{"cognito-identity-id": {"us-west-2:ffffffff-eeee-dddd-cccc-bbbbbbbbbbbb"}}, []string{"ResourceNotFoundException", "identity ID", "not an identity pool ID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := cognitoForTest(t, fake.URL, tc.flags, &now)
			_, err := p.Prepare(context.Background())
			wantKind(t, err, errs.Refused)
			t.Log(err)
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), wrongToken) || strings.Contains(err.Error(), testLoginToken) {
				t.Errorf("error %q shows a login token", err)
			}
		})
	}
}

func TestCognitoUnreachableAndServerErrors(t *testing.T) {
	now := testClock
	closed := fmt.Sprintf("http://127.0.0.1:%d", testpeer.FreePort(t))
	p := cognitoForTest(t, closed, nil, &now)
	_, err := p.Prepare(context.Background())
	wantKind(t, err, errs.Connect)
	t.Log(err)

	for _, status := range []int{500, 503, 429} {
		fake := awsfake.NewCognito(t, func(awsfake.GetCredentialsForIdentityInput) (awsfake.CognitoCredentials, error) {
			return awsfake.CognitoCredentials{}, &awsfake.APIError{Status: status, Type: "InternalErrorException", Message: "boom"}
		})
		p := cognitoForTest(t, fake.URL, nil, &now)
		_, err := p.Prepare(context.Background())
		wantKind(t, err, errs.Connect)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fake := awsfake.NewCognito(t, func(awsfake.GetCredentialsForIdentityInput) (awsfake.CognitoCredentials, error) {
		return awsfake.CognitoCredentials{}, errors.New("unreached")
	})
	p = cognitoForTest(t, fake.URL, nil, &now)
	if _, err := p.Prepare(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestCognitoSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags map[string][]string
	}{
		{"no identity", map[string][]string{"auth": {"cognito"}}},
		{"not region:guid", map[string][]string{"cognito-identity-id": {"0a1b2c3d"}}},
		{"login without =", map[string][]string{"cognito-identity-id": {testIdentity}, "cognito-login": {testLoginToken}}},
		{"login without provider", map[string][]string{"cognito-identity-id": {testIdentity}, "cognito-login": {"=" + testLoginToken}}},
		{"login without token", map[string][]string{"cognito-identity-id": {testIdentity}, "cognito-login": {"accounts.google.com="}}},
		{"endpoint not a URL", map[string][]string{"cognito-identity-id": {testIdentity}, "cognito-endpoint": {"cognito.example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newCognito(settingsForAWSTest(t, tc.flags))
			wantKind(t, err, errs.Usage)
			t.Log(err)
			if strings.Contains(err.Error(), testLoginToken) {
				t.Errorf("error %q shows the login token", err)
			}
		})
	}
	p, err := New(settingsForAWSTest(t, map[string][]string{"cognito-identity-id": {testIdentity}}))
	if err != nil || p.Method() != "cognito" {
		t.Errorf("New with --cognito-identity-id: %v, %v", p, err)
	}
}
