package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/gorilla/websocket"

	"github.com/iotctl/iotctl/pkg/errs"
)

func TestRegionFromEndpoint(t *testing.T) {
	for host, want := range map[string]string{
		"a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com":     "us-east-1",
		"a1b2c3d4e5f6g7-ats.iot.eu-central-1.amazonaws.com.": "eu-central-1",
		"A1B2-ATS.IOT.AP-SOUTHEAST-2.AMAZONAWS.COM":          "ap-southeast-2",
		"a1b2-ats.iot.us-east-1.amazonaws.com:443":           "us-east-1",
		"a1b2.iot.cn-north-1.amazonaws.com.cn":               "cn-north-1",
		"data-ats.iot.us-gov-west-1.amazonaws.com":           "us-gov-west-1",
		"a1b2-ats.iot-fips.us-east-2.amazonaws.com":          "us-east-2",
		"localhost":                                     "",
		"127.0.0.1":                                     "",
		"broker.example.com":                            "",
		"iot.us-east-1.amazonaws.com":                   "",
		"a1b2-ats.iot.us-east-1.example.com":            "",
		"a1b2-ats.iot.us-east-1.amazonaws.com.evil.com": "",
		"a1b2.greengrass.iot.us-east-1.amazonaws.com":   "",
		"a1b2-ats.iot.notaregion.amazonaws.com":         "",
		"cognito-identity.us-east-1.amazonaws.com":      "",
		".iot.us-east-1.amazonaws.com":                  "",
	} {
		got, ok := RegionFromEndpoint(host)
		if got != want || ok != (want != "") {
			t.Errorf("RegionFromEndpoint(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

func TestSigV4Region(t *testing.T) {
	noAWSRegion(t)
	for _, tc := range []struct {
		flags map[string][]string
		want  string
	}{
		{map[string][]string{"endpoint": {"abc-ats.iot.eu-west-1.amazonaws.com"}}, "eu-west-1"},
		{map[string][]string{"endpoint": {"abc-ats.iot.eu-west-1.amazonaws.com"}, "region": {"us-east-2"}}, "us-east-2"},
		{map[string][]string{"endpoint": {"wss://broker.example.com:8443/mqtt"}, "region": {"us-east-2"}}, "us-east-2"},
		{map[string][]string{"endpoint": {"broker.example.com"}}, ""},
		{map[string][]string{}, ""}, // default endpoint localhost
	} {
		p, err := newSigV4(settingsForAWSTest(t, tc.flags))
		if tc.want == "" {
			wantKind(t, err, errs.Usage)
			t.Log(err)
			if !strings.Contains(err.Error(), "--region") {
				t.Errorf("error %q does not name --region", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.ws.region != tc.want {
			t.Errorf("%v: region %q, want %q", tc.flags, p.ws.region, tc.want)
		}
	}
	_, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"mqtts://abc-ats.iot.eu-west-1.amazonaws.com"}}))
	wantKind(t, err, errs.Usage)
}

// rotatingCreds hands out a new key on every call, as a credentials chain
// does after a refresh.
type rotatingCreds struct{ calls atomic.Int32 }

func (r *rotatingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	n := r.calls.Add(1)
	return aws.Credentials{AccessKeyID: fmt.Sprintf("AKIDROTATE%d", n), SecretAccessKey: "secret", SessionToken: fmt.Sprintf("token%d", n)}, nil
}

func presignedKey(t *testing.T, d *Dial, target Target) (akid string, u *url.URL) {
	t.Helper()
	if d.WebsocketURL == nil {
		t.Fatal("no WebsocketURL")
	}
	raw, header, err := d.WebsocketURL(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if len(header) != 0 {
		t.Errorf("extra headers %v", header)
	}
	u, err = url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	akid, _, _ = strings.Cut(u.Query().Get("X-Amz-Credential"), "/")
	return akid, u
}

func TestSigV4CredentialsPerAttempt(t *testing.T) {
	p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.us-east-1.amazonaws.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	rc := &rotatingCreds{}
	p.creds = rc
	p.ws.now = func() time.Time { return testClock }
	target := Target{Host: "abc-ats.iot.us-east-1.amazonaws.com", Port: 443}

	d1, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d2, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k1, u1 := presignedKey(t, d1, target)
	k2, u2 := presignedKey(t, d2, target)
	if k1 != "AKIDROTATE1" || k2 != "AKIDROTATE2" {
		t.Errorf("keys %s, %s: want a fresh key per Prepare", k1, k2)
	}
	if got := u2.Query().Get("X-Amz-Security-Token"); got != "token2" {
		t.Errorf("token %q, want token2", got)
	}
	if rc.calls.Load() != 2 {
		t.Errorf("credentials retrieved %d times, want 2", rc.calls.Load())
	}
	if d1.Transport != WSS || d1.Port != 443 || d1.TLS == nil || d1.HasUsername || d1.HasPassword {
		t.Errorf("dial = %+v", d1)
	}
	if u1.Host != target.Host || u1.Scheme != "wss" || u1.Path != "/mqtt" {
		t.Errorf("URL %s", u1)
	}
	// A non-default port is part of the signed Host.
	_, u := presignedKey(t, d1, Target{Host: "127.0.0.1", Port: 8443})
	r := upgradeRequest(t, u.String(), "127.0.0.1:8443", nil)
	if _, err := VerifyPresignedURL(r, func(string) (string, string, bool) { return "secret", "token1", true }, testClock); err != nil {
		t.Errorf("verify %s: %v", u, err)
	}
}

// writeAWSFiles points the SDK at a temporary shared config with profile
// p1 and no environment credentials, IMDS off.
func writeAWSFiles(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfg, []byte("[profile p1]\nregion = eu-west-1\n\n[default]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("[p1]\naws_access_key_id = AKIDPROFILE1\naws_secret_access_key = p1secret\naws_session_token = p1token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":                        cfg,
		"AWS_SHARED_CREDENTIALS_FILE":            creds,
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_PROFILE":                            "",
		"AWS_DEFAULT_PROFILE":                    "",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"HOME":                                   dir,
	} {
		t.Setenv(k, v)
	}
}

func TestSigV4SharedConfigProfile(t *testing.T) {
	writeAWSFiles(t)
	p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.us-east-1.amazonaws.com"}, "aws-profile": {"p1"}}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	akid, u := presignedKey(t, d, Target{Host: "abc-ats.iot.us-east-1.amazonaws.com", Port: 443})
	if akid != "AKIDPROFILE1" || u.Query().Get("X-Amz-Security-Token") != "p1token" {
		t.Errorf("URL %s: want profile p1's key and token", u)
	}
	// The endpoint's region signs, not the profile's.
	if !strings.Contains(u.Query().Get("X-Amz-Credential"), "/us-east-1/iotdevicegateway/") {
		t.Errorf("credential scope %s", u.Query().Get("X-Amz-Credential"))
	}
	if _, isCache := p.creds.(*aws.CredentialsCache); !isCache {
		t.Errorf("credentials provider %T, want the config's *aws.CredentialsCache", p.creds)
	}
}

func TestSigV4EnvCredentials(t *testing.T) {
	writeAWSFiles(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.us-east-1.amazonaws.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	akid, u := presignedKey(t, d, Target{Host: "abc-ats.iot.us-east-1.amazonaws.com", Port: 443})
	if akid != "AKIDENV" || u.Query().Has("X-Amz-Security-Token") {
		t.Errorf("URL %s: want the env key and no token", u)
	}
}

func TestSigV4CredentialErrors(t *testing.T) {
	writeAWSFiles(t)
	// No credentials anywhere.
	p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.us-east-1.amazonaws.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Prepare(context.Background())
	wantKind(t, err, errs.Usage)
	t.Log(err)
	for _, hint := range []string{"AWS_PROFILE", "--aws-profile", "AWS_ACCESS_KEY_ID"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("error %q does not mention %s", err, hint)
		}
	}
	// A profile that does not exist.
	p, err = newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.us-east-1.amazonaws.com"}, "aws-profile": {"nope"}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Prepare(context.Background())
	wantKind(t, err, errs.Usage)
	t.Log(err)
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("error %q does not name the profile", err)
	}
}

func TestSigV4ViaNew(t *testing.T) {
	p, err := New(settingsForAWSTest(t, map[string][]string{"endpoint": {"abc-ats.iot.us-east-1.amazonaws.com"}, "aws-profile": {"x"}}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Method() != "sigv4" {
		t.Errorf("method %s", p.Method())
	}
	// Constructing loads nothing: no AWS configuration was read yet.
	if p.(*sigv4).creds != nil {
		t.Error("credentials loaded before Prepare")
	}
}

func TestHostHeader(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		def  int
		want string
	}{
		{Target{"h", 443}, 443, "h"},
		{Target{"h", 0}, 443, "h"},
		{Target{"h", 8443}, 443, "h:8443"},
		{Target{"::1", 443}, 443, "[::1]"},
		{Target{"::1", 8443}, 443, "[::1]:8443"},
		{Target{"h", 80}, 80, "h"},
		{Target{"h", 443}, 80, "h:443"},
	} {
		if got := hostHeader(tc.t, tc.def); got != tc.want {
			t.Errorf("hostHeader(%v, %d) = %q, want %q", tc.t, tc.def, got, tc.want)
		}
	}
}

// The signed Host is the one Go's websocket client sends: a real upgrade
// through gorilla/websocket to a verifying server on a non-default port.
func TestSigV4URLWithWebsocketClient(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDWS", SecretAccessKey: "ws-secret", SessionToken: "ws+token/=="}
	upgrader := websocket.Upgrader{Subprotocols: []string{"mqtt"}}
	var verified atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := VerifyPresignedURL(r, lookupFor(creds), time.Now())
		if err != nil || p.Region != "us-east-1" {
			http.Error(w, fmt.Sprint(err), http.StatusForbidden)
			return
		}
		verified.Store(true)
		c, err := upgrader.Upgrade(w, r, nil)
		if err == nil {
			c.Close()
		}
	}))
	t.Cleanup(srv.Close)
	host, portText, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)

	p, err := newSigV4(settingsForAWSTest(t, map[string][]string{"endpoint": {host}, "region": {"us-east-1"}}))
	if err != nil {
		t.Fatal(err)
	}
	p.creds = credentials.StaticCredentialsProvider{Value: creds}
	d, err := p.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := d.WebsocketURL(context.Background(), Target{Host: host, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	dialer := websocket.Dialer{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig, Subprotocols: []string{"mqtt"}}
	c, resp, err := dialer.Dial(u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", u, err, status)
	}
	c.Close()
	if !verified.Load() {
		t.Error("server did not verify")
	}
}
