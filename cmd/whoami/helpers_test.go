package whoami

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// allowConnect lets every principal connect with any client ID.
const allowConnect = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`

// Test AWS keys the emulator knows; the secret parts carry S3CR3T so that
// any leak is found by one search.
const (
	envAKID    = "AKIAIOSFODNN7EXAMPLE"
	envSecret  = "aws-secret-S3CR3T-7"
	envToken   = "aws-session-token-S3CR3T-8"
	cogAKID    = "ASIACOGNITOEXAMPLE01"
	cogSecret  = "cognito-secret-S3CR3T-11"
	cogToken   = "cognito-token-S3CR3T-12"
	identityID = "us-west-2:0a1b2c3d-1111-2222-3333-444455556666"
	loginToken = "login-token-S3CR3T-9"
	marker     = "S3CR3T"
)

type result struct {
	out, errOut string
	err         error
}

func (r result) code() int { return cmdutil.ExitCode(r.err) }

// run executes `iotctl <args>` on a tree like the root's: the settings
// flags, their normalisation, and whoami.
func run(t *testing.T, args ...string) result {
	t.Helper()
	out, errOut := &bytes.Buffer{}, &testenv.SyncBuffer{}
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(NewCmdWhoami(f, nil), out, errOut)
	root.SetArgs(args)
	err := root.Execute()
	return result{out.String(), errOut.String(), err}
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.err != nil {
		t.Fatalf("iotctl %s: exit %d: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code(), r.err, r.out, r.errOut)
	}
	return r
}

// isolate gives the test its own IOTCTL_HOME and an AWS environment with
// no credentials, files or instance metadata.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"IOTCTL_HOME":                            filepath.Join(dir, "iotctl"),
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_PROFILE":                            "",
		"AWS_DEFAULT_PROFILE":                    "",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_STS":                   "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
	} {
		t.Setenv(k, v)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "IOTCTL_") && k != "IOTCTL_HOME" && k != "IOTCTL_REQUIRE_PEERS" {
			t.Setenv(k, "")
		}
	}
	for _, k := range proxyVars {
		t.Setenv(k, "")
	}
	return dir
}

// proxyVars are the proxy variables isolate clears.
var proxyVars = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"}

// world is the embedded broker with its AWS IoT Core emulation on every
// listener, a server CA (caFile, for --ca-file) and a client CA.
type world struct {
	dir      string
	clientCA *testpki.CA
	serverCA *testpki.CA
	caFile   string
	b        *broker.Broker
	authzDir string // the custom authorizer's event.json
	authzKey *rsa.PrivateKey
}

// startAWSWorld is startWorld, isolated, with the env AWS credentials
// set and a fake STS for account 123456789012.
func startAWSWorld(t *testing.T) (*world, *awsfake.STS) {
	t.Helper()
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", envAKID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
	t.Setenv("AWS_SESSION_TOKEN", envToken)
	return startWorld(t, nil), awsfake.NewSTS(t, "123456789012", "arn:aws:iam::123456789012:user/dev")
}

// startWorld starts the emulator; setup may complete its configuration.
func startWorld(t *testing.T, setup func(*world, *iot.Config)) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), clientCA: testpki.NewCA(t, "whoami client CA"), serverCA: testpki.NewCA(t, "whoami server CA")}
	w.caFile = testpki.Write(t, w.dir, "server-ca.pem", w.serverCA.PEM)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	w.authzKey, w.authzDir = key, t.TempDir()
	resp, _ := json.Marshal(map[string]any{"isAuthenticated": true, "principalId": "dev1", "policyDocuments": []string{allowConnect}})
	testpki.Write(t, w.authzDir, "response.json", resp)
	script := fmt.Sprintf("cat > '%s'; cat '%s'", filepath.Join(w.authzDir, "event.json"), filepath.Join(w.authzDir, "response.json"))

	doc, err := policy.Parse([]byte(allowConnect))
	if err != nil {
		t.Fatal(err)
	}
	cfg := iot.Config{
		Policies:    []iot.Policy{{Principal: iot.AnyPrincipal, Doc: doc}},
		Authorizers: []iot.Authorizer{{Name: "myAuth", Command: script, PublicKey: &key.PublicKey}},
		Credentials: []iot.Credential{
			{AccessKeyID: envAKID, SecretAccessKey: envSecret, SessionToken: envToken},
			{AccessKeyID: cogAKID, SecretAccessKey: cogSecret, SessionToken: cogToken, CognitoIdentityID: identityID},
		},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if setup != nil {
		setup(w, &cfg)
	}
	e, err := iot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := w.serverCA.Server(t, "127.0.0.1", "localhost")
	certFile, keyFile := srv.Files(t, w.dir, "server")
	o := broker.Options{
		Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0", WSSListen: "127.0.0.1:0",
		TLSCert: certFile, TLSKey: keyFile, ClientCA: testpki.Write(t, w.dir, "client-ca.pem", w.clientCA.PEM),
		Home: w.dir, Logger: cfg.Logger,
	}
	e.Apply(&o)
	b := testenv.StartBroker(t, o)
	w.b = b
	return w
}

// addr is a listener's host:port.
func (w *world) addr(scheme string) string {
	_, a, _ := strings.Cut(w.b.URL(scheme), "://")
	return a
}

// sign signs a custom-authorizer token with the authorizer's key.
func (w *world) sign(t *testing.T, token string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	sig, err := rsa.SignPKCS1v15(rand.Reader, w.authzKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// authorizerEvent is what the custom authorizer last received.
func (w *world) authorizerEvent(t *testing.T) iot.AuthorizerEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.authzDir, "event.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev iot.AuthorizerEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// certOptions shape a client certificate of the world's client CA.
type certOptions struct {
	cn       string
	notAfter time.Time // zero: a year from now
	dns      []string
	ips      []string
	uris     []string
	serial   int64 // 0: random
}

// issue makes a client certificate with SANs (testpki's have none) and
// writes it and its key; it returns the certificate and both paths.
func (w *world) issue(t *testing.T, o certOptions) (cert *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key := testpki.NewKey(t, testpki.EC)
	serial := big.NewInt(o.serial)
	if o.serial == 0 {
		serial, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.cn, Organization: []string{"iotctl test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     o.dns,
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	for _, ip := range o.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	for _, u := range o.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.clientCA.Cert, key.Public(), w.clientCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile = testpki.Write(t, dir, o.cn+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyFile = testpki.Write(t, dir, o.cn+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	return cert, certFile, keyFile
}

// Volatile parts of the output and their stand-ins in golden files.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`), "<time>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`), "<time>"},
	{regexp.MustCompile(`(127\.0\.0\.1|localhost):\d+`), "$1:<port>"},
	{regexp.MustCompile(`iotctl-[0-9a-f]{12}`), "iotctl-<random>"},
	{regexp.MustCompile(`"connect_latency_ms": [0-9.e+-]+`), `"connect_latency_ms": 0`},
	{regexp.MustCompile(`connect latency: +[0-9.]+m?s`), "connect latency:          <latency>"},
	{regexp.MustCompile(`Version=[^&"\s]*`), "Version=<version>"},
	{regexp.MustCompile(`"pkcs11_slot": \d+`), `"pkcs11_slot": 0`},
	{regexp.MustCompile(`"cipher_suite": "TLS_[A-Z0-9_]+"`), `"cipher_suite": "<cipher>"`}, // AES or ChaCha by hardware
	{regexp.MustCompile(`cipher suite: +TLS_[A-Z0-9_]+`), "cipher suite:             <cipher>"},
	{regexp.MustCompile(`"pkcs11_token_serial": "[^"]*"`), `"pkcs11_token_serial": "<serial>"`},
}

// normalise replaces volatile parts, and the given strings (temporary
// paths, certificate IDs) by their names.
func normalise(s string, names map[string]string) string {
	for from, to := range names {
		s = strings.ReplaceAll(s, from, to)
	}
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	clitest.Golden(t, name, got, *update)
}

// decode parses whoami's JSON output.
func decode(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return m
}

// field digs into decoded JSON: field(m, "identity", "subject").
func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}
