package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"software.sslmate.com/src/go-pkcs12"
)

// certPolicies attaches the seed policy to each certificate.
func certPolicies(t *testing.T, leaves ...*testpki.Leaf) []iot.Policy {
	var ps []iot.Policy
	for _, l := range leaves {
		ps = append(ps, iot.Policy{Principal: iot.PrefixCert + l.ID(), Doc: mustParse(t, seedPolicy)})
	}
	return ps
}

func TestMutualTLS(t *testing.T) {
	w := newWorld(t)
	rsaLeaf, rsaCert, rsaKey := w.device(t, testpki.RSA)
	ecLeaf, ecCert, ecKey := w.device(t, testpki.EC)
	w.start(t, iot.Config{Policies: certPolicies(t, rsaLeaf, ecLeaf)})
	port := w.port(broker.MQTTS)

	for _, tt := range []struct {
		name      string
		cert, key string
		alpn      string
	}{
		{"RSA direct", rsaCert, rsaKey, ""},
		{"EC direct", ecCert, ecKey, ""},
		{"RSA ALPN x-amzn-mqtt-ca", rsaCert, rsaKey, "x-amzn-mqtt-ca"},
		{"EC ALPN x-amzn-mqtt-ca", ecCert, ecKey, "x-amzn-mqtt-ca"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--auth", "mtls", "--cert", tt.cert, "--key", tt.key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", port}
			if tt.alpn != "" {
				args = append(args, "--alpn", tt.alpn)
			}
			if id := w.roundTrip(t, nil, args...); w.subs.protocol(id) != tt.alpn {
				t.Errorf("negotiated ALPN %q, want %q", w.subs.protocol(id), tt.alpn)
			}
		})
	}

	t.Run("certificate of another CA", func(t *testing.T) {
		stranger := testpki.NewCA(t, "stranger CA").Client(t, "stranger", testpki.Options{})
		cert, key := stranger.Files(t, t.TempDir(), "stranger")
		refused(t, nil, []int{3, 4}, "--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", port)
		w.hasLog(t, "TLS client certificate refused")
	})

	t.Run("certificate without a policy", func(t *testing.T) {
		_, cert, key := w.device(t, testpki.EC)
		p := refused(t, nil, []int{4}, "--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", port)
		if !strings.Contains(p.stderr.String(), "0x87") {
			t.Errorf("stderr does not name 0x87: %s", p.stderr.String())
		}
	})
}

func TestPKCS12(t *testing.T) {
	w := newWorld(t)
	leaf, _, _ := w.device(t, testpki.RSA)
	w.start(t, iot.Config{Policies: certPolicies(t, leaf)})
	data, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{w.clientCA.Cert}, "p12-secret")
	if err != nil {
		t.Fatal(err)
	}
	file := testpki.Write(t, w.dir, "device.p12", data)
	args := func(password string) []string {
		return []string{"--auth", "pkcs12", "--pkcs12-file", file, "--pkcs12-password", password, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS)}
	}
	w.roundTrip(t, nil, args("p12-secret")...)
	p := refused(t, nil, []int{2}, args("wrong")...)
	if strings.Contains(p.stderr.String(), "wrong\n") || strings.Contains(p.stderr.String(), "p12-secret") {
		t.Errorf("stderr shows a password: %s", p.stderr.String())
	}
}

const (
	hsmPIN   = "4321-user"
	hsmSOPIN = "8765-so"
)

// hsmToken makes a token holding leaf's key and certificate.
func hsmToken(t *testing.T, h *testpeer.SoftHSM, label string, leaf *testpki.Leaf) {
	t.Helper()
	h.InitToken(t, label, hsmSOPIN, hsmPIN)
	h.ImportKey(t, label, hsmPIN, leaf.Key, "01", "k1")
	h.ImportCert(t, label, hsmPIN, leaf.DER, "01", "k1")
}

func TestPKCS11(t *testing.T) {
	h := testpeer.StartSoftHSM(t)
	w := newWorld(t)
	rsaLeaf, _, _ := w.device(t, testpki.RSA)
	ecLeaf, _, _ := w.device(t, testpki.EC)
	hsmToken(t, h, "e2e-rsa", rsaLeaf)
	hsmToken(t, h, "e2e-ec", ecLeaf)
	w.start(t, iot.Config{Policies: certPolicies(t, rsaLeaf, ecLeaf)})
	args := func(label, pin string) []string {
		return []string{"--auth", "pkcs11", "--pkcs11-lib", h.Lib, "--pkcs11-token-label", label, "--pkcs11-pin", pin,
			"--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS)}
	}
	for _, label := range []string{"e2e-rsa", "e2e-ec"} {
		t.Run(label, func(t *testing.T) {
			w.roundTrip(t, []string{h.Env()}, args(label, hsmPIN)...)
		})
	}
	t.Run("wrong PIN", func(t *testing.T) {
		refused(t, []string{h.Env()}, []int{2}, args("e2e-ec", "0000")...)
	})
}

// awsEnv are static credentials in the environment.
func awsEnv(akid, secret, token string) []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + akid, "AWS_SECRET_ACCESS_KEY=" + secret}
	if token != "" {
		env = append(env, "AWS_SESSION_TOKEN="+token)
	}
	return env
}

func TestSigV4(t *testing.T) {
	w := newWorld(t)
	w.start(t, iot.Config{
		Credentials: []iot.Credential{
			{AccessKeyID: "AKIAE2ESTATIC", SecretAccessKey: "static/Secret+Key"},
			{AccessKeyID: "AKIAE2EPROFILE", SecretAccessKey: "profileSecret"},
			{AccessKeyID: "ASIAE2ESESSION", SecretAccessKey: "sessionSecret", SessionToken: "FwoGZXIvYXdzE//session+token="},
		},
		Policies: []iot.Policy{
			{Principal: "akid:AKIAE2ESTATIC", Doc: mustParse(t, seedPolicy)},
			{Principal: "akid:AKIAE2EPROFILE", Doc: mustParse(t, seedPolicy)},
			{Principal: "akid:ASIAE2ESESSION", Doc: mustParse(t, seedPolicy)},
		},
	})
	args := []string{"--auth", "sigv4", "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS), "--region", "us-east-1", "--ca-file", w.caFile}

	t.Run("static environment credentials", func(t *testing.T) {
		w.roundTrip(t, awsEnv("AKIAE2ESTATIC", "static/Secret+Key", ""), args...)
	})
	t.Run("shared config profile", func(t *testing.T) {
		dir := t.TempDir()
		conf := testpki.Write(t, dir, "config", []byte("[profile e2e]\nregion = us-east-1\n"))
		creds := testpki.Write(t, dir, "credentials", []byte("[e2e]\naws_access_key_id = AKIAE2EPROFILE\naws_secret_access_key = profileSecret\n"))
		env := []string{"AWS_CONFIG_FILE=" + conf, "AWS_SHARED_CREDENTIALS_FILE=" + creds}
		w.roundTrip(t, env, append(args, "--aws-profile", "e2e")...)
	})
	// Without --region, on an endpoint that names none: AWS_REGION, else
	// the AWS profile's region (issue 13, item 3). The emulator checks the
	// signature's region (us-east-1): another one is refused.
	noRegion := []string{"--auth", "sigv4", "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS), "--ca-file", w.caFile}
	t.Run("region from AWS_REGION", func(t *testing.T) {
		w.roundTrip(t, append(awsEnv("AKIAE2ESTATIC", "static/Secret+Key", ""), "AWS_REGION=us-east-1"), noRegion...)
		p := refused(t, append(awsEnv("AKIAE2ESTATIC", "static/Secret+Key", ""), "AWS_REGION=eu-west-1"), []int{4}, noRegion...)
		if !strings.Contains(p.stderr.String(), "403") {
			t.Errorf("signed for eu-west-1: stderr does not name the 403: %s", p.stderr.String())
		}
	})
	t.Run("region from the AWS profile", func(t *testing.T) {
		conf := testpki.Write(t, t.TempDir(), "config", []byte("[default]\nregion = us-east-1\n"))
		w.roundTrip(t, append(awsEnv("AKIAE2ESTATIC", "static/Secret+Key", ""), "AWS_CONFIG_FILE="+conf), noRegion...)
	})
	t.Run("no region anywhere", func(t *testing.T) {
		p := refused(t, awsEnv("AKIAE2ESTATIC", "static/Secret+Key", ""), []int{2}, noRegion...)
		if !strings.Contains(p.stderr.String(), "no signing region") {
			t.Errorf("stderr: %s", p.stderr.String())
		}
	})
	t.Run("session token", func(t *testing.T) {
		w.roundTrip(t, awsEnv("ASIAE2ESESSION", "sessionSecret", "FwoGZXIvYXdzE//session+token="), args...)
	})
	t.Run("wrong secret", func(t *testing.T) {
		p := refused(t, awsEnv("AKIAE2ESTATIC", "not-the-secret", ""), []int{4}, args...)
		if !strings.Contains(p.stderr.String(), "403") {
			t.Errorf("stderr does not name the 403: %s", p.stderr.String())
		}
		w.hasLog(t, "websocket upgrade refused", "status=403", "AKIAE2ESTATIC")
	})
	t.Run("wrong session token", func(t *testing.T) {
		refused(t, awsEnv("ASIAE2ESESSION", "sessionSecret", "another-token"), []int{4}, args...)
	})
	if strings.Contains(w.logs.String(), "Secret") || strings.Contains(w.logs.String(), "session+token") {
		t.Errorf("a secret is in the emulator's log:\n%s", w.logs.String())
	}
}

func TestCognito(t *testing.T) {
	const identity = "us-east-1:5b9d3c2e-0000-4000-8000-00000000e2e0"
	cognito := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{
		identity: {
			Logins: map[string]string{"accounts.example.com": "good-id-token"},
			Credentials: func() awsfake.CognitoCredentials {
				return awsfake.CognitoCredentials{AccessKeyID: "ASIACOGNITOE2E", SecretKey: "cognitoSecret", SessionToken: "cognitoToken/+=", Expiration: time.Now().Add(time.Hour)}
			},
		},
	}))
	w := newWorld(t)
	w.start(t, iot.Config{
		Credentials: []iot.Credential{{AccessKeyID: "ASIACOGNITOE2E", SecretAccessKey: "cognitoSecret", SessionToken: "cognitoToken/+=", CognitoIdentityID: identity}},
		Policies:    []iot.Policy{{Principal: iot.PrefixCognito + identity, Doc: mustParse(t, seedPolicy)}},
	})
	args := func(login string) []string {
		return []string{"--auth", "cognito", "--cognito-identity-id", identity, "--cognito-login", "accounts.example.com=" + login,
			"--cognito-endpoint", cognito.URL, "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS), "--region", "us-east-1", "--ca-file", w.caFile}
	}
	w.roundTrip(t, nil, args("good-id-token")...)
	refused(t, nil, []int{4}, args("bad-id-token")...)
}

// authorizerCmd answers every event with the response, after reading it.
func authorizerCmd(t *testing.T, dir, name string, response any) string {
	t.Helper()
	b, err := json.Marshal(response)
	if err != nil {
		t.Fatal(err)
	}
	file := testpki.Write(t, dir, name+".json", b)
	return fmt.Sprintf("cat >/dev/null; cat '%s'", file)
}

func TestCustomAuthorizer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the test authorizers are sh command lines")
	}
	w := newWorld(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	allowResp := map[string]any{"isAuthenticated": true, "principalId": "e2eUser", "policyDocuments": []string{seedPolicy}}
	w.start(t, iot.Config{Authorizers: []iot.Authorizer{
		{Name: "allowAuth", Command: authorizerCmd(t, w.dir, "allow", allowResp)},
		{Name: "signedAuth", Command: authorizerCmd(t, w.dir, "signed", allowResp), PublicKey: &key.PublicKey},
		{Name: "denyAuth", Command: authorizerCmd(t, w.dir, "deny", map[string]any{"isAuthenticated": false})},
	}})
	tlsArgs := func(name string, more ...string) []string {
		return append([]string{"--auth", "custom", "--authorizer-name", name, "--authorizer-username", "alice", "--authorizer-password", "pw",
			"--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS)}, more...)
	}
	sign := func(token string) string {
		sum := sha256.Sum256([]byte(token))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	signed := func(token, sig string) []string {
		return []string{"--token-key-name", "tok", "--token-value", token, "--token-signature", sig}
	}

	t.Run("unsigned", func(t *testing.T) {
		if id := w.roundTrip(t, nil, tlsArgs("allowAuth")...); w.subs.protocol(id) != "mqtt" {
			t.Errorf("negotiated ALPN %q, want mqtt", w.subs.protocol(id))
		}
	})
	t.Run("signed", func(t *testing.T) {
		w.roundTrip(t, nil, tlsArgs("signedAuth", signed("device-token", sign("device-token"))...)...)
	})
	t.Run("websocket", func(t *testing.T) {
		w.roundTrip(t, nil, "--auth", "custom", "--authorizer-name", "allowAuth", "--ca-file", w.caFile, "--endpoint", "wss://127.0.0.1:"+w.port(broker.WSS))
	})
	t.Run("wrong signature", func(t *testing.T) {
		refused(t, nil, []int{4}, tlsArgs("signedAuth", signed("device-token", sign("other-token"))...)...)
		w.hasLog(t, "connection refused", "signedAuth", "does not verify")
	})
	t.Run("isAuthenticated false", func(t *testing.T) {
		refused(t, nil, []int{4}, tlsArgs("denyAuth")...)
	})
	if strings.Contains(w.logs.String(), "device-token") {
		t.Errorf("a token is in the emulator's log:\n%s", w.logs.String())
	}
}
