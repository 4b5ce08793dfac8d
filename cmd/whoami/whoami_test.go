package whoami

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/errs"
)

func TestMTLS(t *testing.T) {
	isolate(t)
	w := startWorld(t, nil)
	// Ten days and an hour left: 10 whole days, and the 30-day warning.
	cert, certFile, keyFile := w.issue(t, certOptions{
		cn: "thing-1", notAfter: time.Now().Add(10*24*time.Hour + time.Hour), serial: 0x1234,
		dns: []string{"thing-1.example.com"}, ips: []string{"10.0.0.7"}, uris: []string{"spiffe://example.com/thing-1"},
	})
	id := (&testpki.Leaf{DER: cert.Raw}).ID()
	names := map[string]string{filepath.Dir(certFile): "<certs>", w.dir: "<world>", id: "<certificate-id>"}
	args := []string{"--endpoint", w.addr(broker.MQTTS), "--cert", certFile, "--key", keyFile, "--ca-file", w.caFile, "whoami"}

	r := mustRun(t, append(args, "--offline")...)
	for _, want := range []string{
		"certificate ID:           " + id,
		"SANs:                     DNS:thing-1.example.com, IP:10.0.0.7, URI:spiffe://example.com/thing-1",
		"auth method:              mtls (inferred)",
		"CONNACK:                  not requested (--offline)",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("offline: no %q in\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.errOut, "iotctl: warning: certificate CN=thing-1,O=iotctl test expires in 10 days (") {
		t.Errorf("no expiry warning on stderr: %q", r.errOut)
	}
	golden(t, "mtls-offline.txt", normalise(r.out, names))

	r = mustRun(t, append(args, "-o", "json")...)
	m := decode(t, r.out)
	if field(m, "identity", "certificate_id") != id || field(m, "identity", "days_left") != 10.0 ||
		field(m, "connack", "maximum_qos") != 1.0 || field(m, "connack", "receive_maximum") != 100.0 {
		t.Errorf("json: %s", r.out)
	}
	if r.errOut != "" {
		t.Errorf("json mode wrote to stderr: %q", r.errOut)
	}
	golden(t, "mtls.json", normalise(r.out, names))

	r = mustRun(t, args...)
	for _, want := range []string{"CONNACK:                  success (0x00)", "maximum QoS:              1", "topic alias maximum:      8", "subscription identifiers: no", "\nWarnings\n  certificate CN=thing-1"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("online: no %q in\n%s", want, r.out)
		}
	}
}

func TestExpiredCertificate(t *testing.T) {
	isolate(t)
	w := startWorld(t, nil)
	_, certFile, keyFile := w.issue(t, certOptions{cn: "old", notAfter: time.Now().Add(-49 * time.Hour)})
	args := []string{"--endpoint", w.addr(broker.MQTTS), "--cert", certFile, "--key", keyFile, "--ca-file", w.caFile, "whoami"}
	r := run(t, args...)
	if r.code() != 2 || !strings.Contains(r.err.Error(), "expired") {
		t.Fatalf("exit %d: %v", r.code(), r.err)
	}
	for _, want := range []string{"subject:                  CN=old,O=iotctl test", "(expired)", "\nWarnings\n  certificate CN=old,O=iotctl test expired on "} {
		if !strings.Contains(r.out, want) {
			t.Errorf("no %q in\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "Broker") {
		t.Errorf("an expired certificate was used to connect:\n%s", r.out)
	}
	r = run(t, append(args, "-o", "json")...)
	m := decode(t, r.out)
	if r.code() != 2 || field(m, "identity", "days_left") != -3.0 || !strings.Contains(field(m, "error").(string), "expired") {
		t.Errorf("exit %d: %s", r.code(), r.out)
	}
}

// TestCertificateID checks the ID against testpki's, for a certificate
// testpki issued itself.
func TestCertificateID(t *testing.T) {
	isolate(t)
	ca := testpki.NewCA(t, "CA")
	leaf := ca.Client(t, "plain", testpki.Options{KeyType: testpki.RSA})
	cert, key := leaf.Files(t, t.TempDir(), "plain")
	r := mustRun(t, "--cert", cert, "--key", key, "whoami", "--offline", "-o", "json")
	m := decode(t, r.out)
	if field(m, "identity", "certificate_id") != leaf.ID() || field(m, "identity", "key_type") != "RSA 2048" || field(m, "auth_method") != "mtls" {
		t.Errorf("%s", r.out)
	}
}

func TestSigV4(t *testing.T) {
	w, sts := startAWSWorld(t)
	names := map[string]string{w.dir: "<world>"}
	args := []string{"--auth", "sigv4", "--endpoint", "wss://" + w.addr(broker.WSS), "--region", "us-east-1", "--ca-file", w.caFile, "--sts-endpoint", sts.URL, "whoami"}

	r := mustRun(t, append(args, "--offline")...)
	for _, want := range []string{"access key ID:            AKIA…MPLE", "credential source:        EnvConfigCredentials", "temporary credentials:    yes", "AWS account:              not requested (--offline)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("offline: no %q in\n%s", want, r.out)
		}
	}
	if n := len(sts.Calls()); n != 0 {
		t.Errorf("--offline called STS %d times", n)
	}

	r = mustRun(t, append(args, "-o", "json")...)
	m := decode(t, r.out)
	if field(m, "aws", "account") != "123456789012" || field(m, "aws", "arn") != "arn:aws:iam::123456789012:user/dev" ||
		field(m, "aws", "user_id") != "AIDAIOTCTLFAKEUSER" || field(m, "identity", "access_key_id") != "AKIA…MPLE" || field(m, "connack") == nil {
		t.Errorf("json: %s", r.out)
	}
	calls := sts.Calls()
	if len(calls) != 1 || calls[0].Region != "us-east-1" || calls[0].AccessKeyID != envAKID || !calls[0].HasSessionToken {
		t.Errorf("STS calls %+v", calls)
	}
	golden(t, "sigv4.json", normalise(r.out, names))

	// A key IoT does not accept: 403 at the upgrade, exit 4, after the
	// offline part.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	r = run(t, args...)
	if r.code() != 4 || !strings.Contains(r.out, "AWS account:              123456789012") || !strings.Contains(r.out, "CONNACK:                  none: the connection failed") {
		t.Errorf("exit %d (%v):\n%s", r.code(), r.err, r.out)
	}
}

// TestSigV4RegionSource: with no --region on an endpoint that names none,
// whoami signs with AWS_REGION and says so, in text and JSON.
func TestSigV4RegionSource(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", envAKID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
	t.Setenv("AWS_REGION", "eu-west-3")
	args := []string{"--auth", "sigv4", "--endpoint", "wss://localhost:8443", "whoami", "--offline"}
	r := mustRun(t, args...)
	if !strings.Contains(r.out, "signing region:           eu-west-3 (from AWS_REGION)") {
		t.Errorf("text:\n%s", r.out)
	}
	m := decode(t, mustRun(t, append(args, "-o", "json")...).out)
	if field(m, "identity", "signing_region") != "eu-west-3" || field(m, "identity", "signing_region_source") != "AWS_REGION" {
		t.Errorf("json: %v", m["identity"])
	}
}

// TestSSOProfileNotLoggedIn: the issue's command line, an sso_session
// profile with no cached token (an empty HOME), says what the AWS CLI says;
// exit 2, in text and in the JSON report.
func TestSSOProfileNotLoggedIn(t *testing.T) {
	dir := isolate(t)
	t.Setenv("HOME", dir)
	cfg := filepath.Join(dir, "aws-config")
	if err := os.WriteFile(cfg, []byte("[profile ssouser]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\nregion = eu-west-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "whoami", "--offline", "--auth", "sigv4", "--aws-profile", "ssouser")
	if r.code() != 2 || !strings.HasSuffix(r.err.Error(), "run aws sso login --profile ssouser") || strings.Contains(r.err.Error(), "set AWS_PROFILE") {
		t.Errorf("exit %d: %v", r.code(), r.err)
	}
	if !strings.Contains(r.out, "signing region:           eu-west-1 (from AWS profile ssouser in "+cfg+")") {
		t.Errorf("text:\n%s", r.out)
	}
	r = run(t, "whoami", "--offline", "--auth", "sigv4", "--aws-profile", "ssouser", "-o", "json")
	if m := decode(t, r.out); !strings.HasSuffix(fmt.Sprint(m["error"]), "run aws sso login --profile ssouser") {
		t.Errorf("json error %v", m["error"])
	}
}

func TestSTSFailureIsAWarning(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", envAKID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
	r := mustRun(t, "--auth", "sigv4", "--endpoint", "ws://"+closedAddr(t), "--region", "eu-west-1", "--sts-endpoint", "http://"+closedAddr(t),
		"--connect-timeout", "2s", "whoami", "--offline")
	if strings.Contains(r.errOut, "sts") {
		t.Errorf("--offline called STS: %s", r.errOut)
	}
	r = run(t, "--auth", "sigv4", "--endpoint", "ws://"+closedAddr(t), "--region", "eu-west-1", "--sts-endpoint", "http://"+closedAddr(t),
		"--connect-timeout", "2s", "whoami")
	if r.code() != 3 || !strings.Contains(r.errOut, "iotctl: warning: sts: GetCallerIdentity at http://127.0.0.1:") ||
		!strings.Contains(r.out, "AWS account:              unknown: STS GetCallerIdentity failed (see the warnings)") {
		t.Errorf("exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code(), r.err, r.out, r.errOut)
	}
}

func TestCustomAuthorizer(t *testing.T) {
	isolate(t)
	w := startWorld(t, nil)
	token := "device-token-1"
	sig := w.sign(t, token)
	names := map[string]string{w.dir: "<world>"}
	args := []string{"--endpoint", w.addr(broker.MQTTS), "--ca-file", w.caFile, "--authorizer-name", "myAuth", "--authorizer-username", "dev",
		"--token-key-name", "tok", "--token-value", token, "--token-signature", sig, "--authorizer-password", "pw", "whoami"}

	r := mustRun(t, append(args, "-o", "json")...)
	m := decode(t, r.out)
	wantUser := "dev?x-amz-customauthorizer-name=myAuth&tok=****&x-amz-customauthorizer-signature=****&SDK=iotctl&Version="
	if u, _ := field(m, "identity", "username").(string); !strings.HasPrefix(u, wantUser) || field(m, "identity", "password") != "****" ||
		field(m, "identity", "authorizer_name") != "myAuth" || field(m, "identity", "token_signed") != true || field(m, "connack") == nil {
		t.Errorf("json: %s", r.out)
	}
	ev := w.authorizerEvent(t)
	if ev.Token != token || !ev.SignatureVerified || !strings.Contains(ev.ProtocolData.MQTT.Username, "tok="+token+"&") {
		t.Errorf("the authorizer got %+v", ev)
	}
	for _, secret := range []string{token, sig, url.QueryEscape(sig), "pw"} {
		if strings.Contains(r.out+r.errOut, secret) {
			t.Errorf("output shows %q:\n%s%s", secret, r.out, r.errOut)
		}
	}
	golden(t, "custom.json", normalise(r.out, names))

	r = mustRun(t, args...)
	if !strings.Contains(r.out, "username:                 "+wantUser) || !strings.Contains(r.out, "authorizer:               myAuth") {
		t.Errorf("text:\n%s", r.out)
	}
}

func TestCognito(t *testing.T) {
	isolate(t)
	w := startWorld(t, nil)
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	cog := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{identityID: {
		Logins: map[string]string{"accounts.google.com": loginToken},
		Credentials: func() awsfake.CognitoCredentials {
			return awsfake.CognitoCredentials{AccessKeyID: cogAKID, SecretKey: cogSecret, SessionToken: cogToken, Expiration: expires}
		},
	}}))
	sts := awsfake.NewSTS(t, "123456789012", "arn:aws:sts::123456789012:assumed-role/Cognito_Auth/CognitoIdentityCredentials")
	args := []string{"--endpoint", "wss://" + w.addr(broker.WSS), "--region", "us-east-1", "--ca-file", w.caFile, "--sts-endpoint", sts.URL,
		"--cognito-identity-id", identityID, "--cognito-login", "accounts.google.com=" + loginToken, "--cognito-endpoint", cog.URL, "whoami"}

	r := mustRun(t, append(args, "--offline")...)
	if len(cog.Calls()) != 0 || !strings.Contains(r.out, "cognito identity ID:      "+identityID) || !strings.Contains(r.out, "login providers:          accounts.google.com") {
		t.Errorf("offline (%d Cognito calls):\n%s", len(cog.Calls()), r.out)
	}
	r = mustRun(t, append(args, "-o", "json")...)
	m := decode(t, r.out)
	if field(m, "auth_method") != "cognito" || field(m, "identity", "credentials_expire") != expires.UTC().Format(time.RFC3339) ||
		field(m, "identity", "access_key_id") != "ASIA…LE01" || field(m, "aws", "user_id") != "AROAIOTCTLFAKEROLE:CognitoIdentityCredentials" || field(m, "connack") == nil {
		t.Errorf("json: %s", r.out)
	}
	if strings.Contains(r.out+r.errOut, marker) {
		t.Errorf("a secret is shown:\n%s%s", r.out, r.errOut)
	}

	// Cognito saying no: exit 4 after the offline part, no connection.
	args[len(args)-4] = "accounts.google.com=expired-" + marker
	r = run(t, args...)
	if r.code() != 4 || !strings.Contains(r.err.Error(), "NotAuthorizedException") || strings.Contains(r.out+r.errOut+r.err.Error(), marker) ||
		!strings.Contains(r.out, "cognito identity ID:      "+identityID) || !strings.Contains(r.out, "CONNACK:                  not requested: the identity could not be established") {
		t.Errorf("exit %d (%v):\n%s", r.code(), r.err, r.out)
	}
}

func TestConnectFailure(t *testing.T) {
	isolate(t)
	addr := closedAddr(t)
	r := run(t, "--endpoint", addr, "--username", "u", "whoami")
	if r.code() != 3 || !strings.Contains(r.out, "auth method:              userpass (inferred)") || !strings.Contains(r.out, "endpoint:                 mqtt://"+addr) {
		t.Errorf("exit %d (%v):\n%s", r.code(), r.err, r.out)
	}
	r = run(t, "--endpoint", addr, "whoami", "-o", "json")
	m := decode(t, r.out)
	if r.code() != 3 || field(m, "connack") != nil || !strings.Contains(field(m, "error").(string), "connection refused") {
		t.Errorf("exit %d: %s", r.code(), r.out)
	}
	// Settings that cannot make a provider: exit 2, the Profile part shown.
	r = run(t, "--key", "/nonexistent/key.pem", "whoami")
	if r.code() != 2 || !strings.Contains(r.out, "key:                      /nonexistent/key.pem (flag)") {
		t.Errorf("exit %d (%v):\n%s", r.code(), r.err, r.out)
	}
}

func TestInsecureWarns(t *testing.T) {
	isolate(t)
	r := mustRun(t, "whoami", "--endpoint", "mqtts://example.com", "--insecure", "--offline")
	if !strings.Contains(r.errOut, "iotctl: warning: --insecure") || !strings.Contains(r.out, "\nWarnings\n  --insecure") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.out, r.errOut)
	}
}

func TestProxyPasswordHidden(t *testing.T) {
	isolate(t)
	r := mustRun(t, "--proxy", "http://user:proxy-"+marker+"@proxy.example:3128", "whoami", "--offline", "-o", "json")
	if strings.Contains(r.out, marker) || !strings.Contains(r.out, "http://user:****@proxy.example:3128") {
		t.Errorf("%s", r.out)
	}
}

// TestEndpointUserinfo: the user info of an endpoint URL is the CONNECT
// username and password, the password masked wherever whoami prints it.
func TestEndpointUserinfo(t *testing.T) {
	isolate(t)
	for _, o := range []string{"text", "json"} {
		r := mustRun(t, "--endpoint", "mqtt://alice:ep-"+marker+"@broker.example", "whoami", "--offline", "-o", o)
		if strings.Contains(r.out+r.errOut, marker) {
			t.Errorf("-o %s shows the password:\n%s%s", o, r.out, r.errOut)
		}
		for _, want := range []string{"mqtt://alice:****@broker.example", "userpass", "alice", "****"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("-o %s: no %q in\n%s", o, want, r.out)
			}
		}
	}
}

func TestFlagParsing(t *testing.T) {
	ios, _, _, _ := cmdutil.Test()
	f := cmdutil.NewFactory(ios, "test")
	var got *Options
	cmd := NewCmdWhoami(f, func(_ context.Context, o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--offline"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.Offline || got.Settings == nil || got.Now == nil {
		t.Errorf("opts %+v", got)
	}
	cmd = NewCmdWhoami(f, func(context.Context, *Options) error { t.Error("runF called"); return nil })
	cmd.SetArgs([]string{"extra"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); cmdutil.Classify(err) != errs.Usage {
		t.Errorf("extra argument: %v", err)
	}
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
