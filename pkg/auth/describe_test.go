package auth

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/errs"
)

func TestMaskAccessKeyID(t *testing.T) {
	for in, want := range map[string]string{
		"AKIAIOSFODNN7EXAMPLE": "AKIA…MPLE",
		"ASIA123456789":        "ASIA…6789",
		"AKIA1234":             "****",
		"":                     "****",
	} {
		if got := MaskAccessKeyID(in); got != want {
			t.Errorf("MaskAccessKeyID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactCustomAuthUsername(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// The JS SDK's example (docs/AWS-IOT.md).
		{"user1?x-amz-customauthorizer-name=myAuth&tok=abc&x-amz-customauthorizer-signature=sig%3D%3D",
			"user1?x-amz-customauthorizer-name=myAuth&tok=****&x-amz-customauthorizer-signature=****"},
		{"?x-amz-customauthorizer-name=a&tok=abc&x-amz-customauthorizer-signature=s&SDK=iotctl&Version=v1",
			"?x-amz-customauthorizer-name=a&tok=****&x-amz-customauthorizer-signature=****&SDK=iotctl&Version=v1"},
		// Unsigned: nothing secret in the username.
		{"dev?x-amz-customauthorizer-name=a&SDK=iotctl&Version=v1", "dev?x-amz-customauthorizer-name=a&SDK=iotctl&Version=v1"},
		{"plain", "plain"},
		// Not URL encoding: every value hidden.
		{"u?x-amz-customauthorizer-name=a&tok=abc&x-amz-customauthorizer-signature=%zz", "u?x-amz-customauthorizer-name=****&tok=****&x-amz-customauthorizer-signature=****"},
	} {
		if got := RedactCustomAuthUsername(tc.in); got != tc.want {
			t.Errorf("RedactCustomAuthUsername(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestDescribeCertificateMethods(t *testing.T) {
	w := newCertWorld(t)
	leaf := w.clientCA.Client(t, "thing-1", testpki.Options{})
	cert, key := leaf.Files(t, w.dir, "thing")
	for _, tc := range []struct {
		flags     map[string]string
		transport Transport
		port      int
		alpn      []string
	}{
		{map[string]string{"cert": cert, "key": key}, TLS, 8883, nil},
		{map[string]string{"cert": cert, "key": key, "port": "443"}, TLS, 8883, []string{"x-amzn-mqtt-ca"}},
		{map[string]string{"cert": cert, "key": key, "endpoint": "wss://h/mqtt", "username": "u", "password": "p"}, WSS, 443, nil},
	} {
		p, err := New(certSettings(t, tc.flags))
		if err != nil {
			t.Fatal(err)
		}
		id, err := Describe(context.Background(), p, DescribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if id.Method != "mtls" || !id.Certificate.Equal(leaf.Cert) || id.CertificateSource != "certificate file "+cert ||
			id.Transport != tc.transport || id.Port != tc.port || !slices.Equal(id.ALPN, tc.alpn) {
			t.Errorf("%v: %+v", tc.flags, id)
		}
		if tc.flags["password"] != "" && (!id.HasPassword || id.Username != "u") {
			t.Errorf("%v: username %q, password set %t", tc.flags, id.Username, id.HasPassword)
		}
	}
}

func TestInspectCertificate(t *testing.T) {
	w := newCertWorld(t)
	expired := w.clientCA.Client(t, "old", testpki.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	cert, key := expired.Files(t, w.dir, "old")
	s := certSettings(t, map[string]string{"cert": cert, "key": key})
	_, err := New(s)
	certWantUsage(t, err, "expired")
	c, src, ok, err := InspectCertificate(s)
	if err != nil || !ok || !c.Equal(expired.Cert) || src != "certificate file "+cert {
		t.Errorf("InspectCertificate: %v %q %t %v", c, src, ok, err)
	}
	// Methods without a certificate file: nothing to inspect.
	_, _, ok, err = InspectCertificate(certSettings(t, map[string]string{"username": "u"}))
	if ok || err != nil {
		t.Errorf("userpass: ok %t, %v", ok, err)
	}
	_, _, _, err = InspectCertificate(certSettings(t, map[string]string{"cert": w.caFile + ".missing", "key": key}))
	certWantUsage(t, err, "missing")
}

func TestDescribeCustom(t *testing.T) {
	s := certSettings(t, map[string]string{
		"endpoint": "abc-ats.iot.us-east-1.amazonaws.com", "authorizer-name": "myAuth", "authorizer-username": "user1",
		"token-key-name": "tok", "token-value": "token-value-secret", "token-signature": "c2lnbmF0dXJlLXNlY3JldA==",
		"authorizer-password": "authz-pass-secret", "no-metrics": "true",
	})
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Describe(context.Background(), p, DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "user1?x-amz-customauthorizer-name=myAuth&tok=****&x-amz-customauthorizer-signature=****"
	if id.Username != want || !id.HasPassword || id.Custom == nil || *id.Custom != (CustomAuthorizer{Name: "myAuth", TokenKeyName: "tok", Signed: true}) {
		t.Errorf("identity %+v custom %+v", id, id.Custom)
	}
	if id.Transport != TLS || id.Port != 443 || !slices.Equal(id.ALPN, []string{"mqtt"}) {
		t.Errorf("transport %s:%d alpn %v", id.Transport, id.Port, id.ALPN)
	}
}

func TestDescribeSigV4AndCallerIdentity(t *testing.T) {
	writeAWSFiles(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "session-token-secret")
	sts := awsfake.NewSTS(t, "123456789012", "arn:aws:iam::123456789012:user/dev")
	p, err := New(settingsForAWSTest(t, map[string][]string{"auth": {"sigv4"}, "endpoint": {"abc-ats.iot.eu-central-1.amazonaws.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	id, err := Describe(context.Background(), p, DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if id.AWS == nil || id.AWS.AccessKeyID != "AKIA…MPLE" || !id.AWS.Temporary || id.AWS.Source != "EnvConfigCredentials" ||
		id.SigningRegion != "eu-central-1" || id.Transport != WSS || id.Port != 443 {
		t.Errorf("identity %+v aws %+v", id, id.AWS)
	}
	caller, err := p.(CallerIdentifier).CallerIdentity(context.Background(), sts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if *caller != (CallerIdentity{Account: "123456789012", ARN: "arn:aws:iam::123456789012:user/dev", UserID: "AIDAIOTCTLFAKEUSER"}) {
		t.Errorf("caller %+v", caller)
	}
	calls := sts.Calls()
	if len(calls) != 1 || calls[0].AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || calls[0].Region != "eu-central-1" || calls[0].Service != "sts" || !calls[0].HasSessionToken {
		t.Errorf("STS calls %+v", calls)
	}

	_, err = p.(CallerIdentifier).CallerIdentity(context.Background(), "sts.example.com")
	wantKind(t, err, errs.Usage)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.(CallerIdentifier).CallerIdentity(ctx, "http://"+closedAddr(t))
	wantKind(t, err, errs.Connect)
	if strings.Contains(err.Error(), "session-token-secret") || strings.Contains(err.Error(), "EXAMPLEKEY") {
		t.Errorf("error shows a secret: %v", err)
	}
}

func TestDescribeCognito(t *testing.T) {
	now := time.Now()
	id, _ := rotatingIdentity(map[string]string{"accounts.google.com": testLoginToken}, &now)
	fake := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{testIdentity: id}))
	sts := awsfake.NewSTS(t, "123456789012", "arn:aws:sts::123456789012:assumed-role/Cognito_Auth/CognitoIdentityCredentials")
	p := cognitoForTest(t, fake.URL, map[string][]string{
		"endpoint":      {"abc-ats.iot.eu-west-1.amazonaws.com"},
		"cognito-login": {"accounts.google.com=" + testLoginToken},
	}, &now)

	ident, err := Describe(context.Background(), p, DescribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := CognitoIdentity{IdentityID: testIdentity, Region: "us-west-2", LoginProviders: []string{"accounts.google.com"}, Endpoint: fake.URL}
	if ident.Cognito == nil || ident.Cognito.IdentityID != want.IdentityID || ident.Cognito.Region != want.Region ||
		!slices.Equal(ident.Cognito.LoginProviders, want.LoginProviders) || ident.AWS != nil || ident.SigningRegion != "eu-west-1" {
		t.Errorf("offline: %+v cognito %+v", ident, ident.Cognito)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("offline describe called Cognito %d times", n)
	}

	ident, err = Describe(context.Background(), p, DescribeOptions{Network: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := ident.AWS; a == nil || a.AccessKeyID != "ASIA…ITO1" || !a.CanExpire || !a.Expires.Equal(now.Add(time.Hour).Truncate(time.Millisecond)) || !a.Temporary {
		t.Errorf("network: %+v", ident.AWS)
	}
	caller, err := p.CallerIdentity(context.Background(), sts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if caller.UserID != "AROAIOTCTLFAKEROLE:CognitoIdentityCredentials" {
		t.Errorf("caller %+v", caller)
	}
	if calls := sts.Calls(); len(calls) != 1 || calls[0].AccessKeyID != "ASIACOGNITO1" || calls[0].Region != "eu-west-1" {
		t.Errorf("STS calls %+v", calls)
	}

	// Cognito saying no keeps its kind.
	bad := cognitoForTest(t, fake.URL, map[string][]string{"endpoint": {"abc-ats.iot.eu-west-1.amazonaws.com"}}, &now)
	bad.optFns = append(bad.optFns, func(o *cognitoidentity.Options) { o.Retryer = aws.NopRetryer{} })
	_, err = Describe(context.Background(), bad, DescribeOptions{Network: true})
	wantKind(t, err, errs.Refused)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
