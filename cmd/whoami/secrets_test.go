package whoami

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// Secret settings and their values: each carries the marker, except the
// token signature, which must be a real signature (checked by value).
var secretSettings = []struct{ name, value string }{
	{"password", "password-" + marker + "-1"},
	{"key-password", "key-password-" + marker + "-2"},
	{"pkcs12-password", "p12-password-" + marker + "-3"},
	{"pkcs11-pin", "pin-" + marker + "-4"},
	{"token-value", "token-" + marker + "-5"},
	{"token-signature", ""}, // set per world
	{"authorizer-password", "authz-password-" + marker + "-10"},
	{"cognito-login", "accounts.google.com=" + loginToken},
}

// TestNoSecretInOutput gives every secret iotctl knows, by flag, IOTCTL_*
// variable and profile in turn, to whoami for each auth method, online,
// with -v and --debug, in text and JSON, and finds none of them in stdout
// or stderr, also when the connection fails or is refused.
func TestNoSecretInOutput(t *testing.T) {
	w, sts := startAWSWorld(t)
	cog := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{identityID: {
		Logins: map[string]string{"accounts.google.com": loginToken},
		Credentials: func() awsfake.CognitoCredentials {
			return awsfake.CognitoCredentials{AccessKeyID: cogAKID, SecretKey: cogSecret, SessionToken: cogToken, Expiration: time.Now().Add(time.Hour)}
		},
	}}))

	secrets := append([]struct{ name, value string }(nil), secretSettings...)
	var tokenValue, signature string
	for i := range secrets {
		switch secrets[i].name {
		case "token-value":
			tokenValue = secrets[i].value
		case "token-signature":
			signature = w.sign(t, tokenValue)
			secrets[i].value = signature
		}
	}
	keyPassword, p12Password := secrets[1].value, secrets[2].value

	// mtls with a legacy encrypted PEM key; pkcs12 with a password.
	dir := t.TempDir()
	cert, certFile, keyFile := w.issue(t, certOptions{cn: "secret-thing"})
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", sec1, []byte(keyPassword), x509.PEMCipherAES256) //nolint:staticcheck // what openssl -traditional writes
	if err != nil {
		t.Fatal(err)
	}
	encKeyFile := testpki.Write(t, dir, "encrypted.key", pem.EncodeToMemory(enc))
	p12, err := pkcs12.Modern.Encode(key, cert, nil, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	p12File := testpki.Write(t, dir, "thing.p12", p12)

	ca := []string{"--ca-file", w.caFile}
	wss := "wss://" + w.addr(broker.WSS)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"userpass", []string{"--auth", "userpass", "--username", "dev", "--endpoint", w.addr(broker.MQTT)}, 4},
		{"mtls", append([]string{"--auth", "mtls", "--cert", certFile, "--key", encKeyFile, "--endpoint", w.addr(broker.MQTTS)}, ca...), 0},
		{"pkcs12", append([]string{"--auth", "pkcs12", "--pkcs12-file", p12File, "--endpoint", w.addr(broker.MQTTS)}, ca...), 0},
		{"custom", append([]string{"--auth", "custom", "--authorizer-name", "myAuth", "--token-key-name", "tok", "--endpoint", w.addr(broker.MQTTS)}, ca...), 0},
		{"sigv4", append([]string{"--auth", "sigv4", "--endpoint", wss, "--region", "us-east-1", "--sts-endpoint", sts.URL}, ca...), 0},
		{"cognito", append([]string{"--auth", "cognito", "--cognito-identity-id", identityID, "--cognito-endpoint", cog.URL, "--endpoint", wss, "--region", "us-east-1", "--sts-endpoint", sts.URL}, ca...), 0},
		// Failures print messages of their own.
		{"custom, closed port", []string{"--auth", "custom", "--authorizer-name", "myAuth", "--token-key-name", "tok", "--endpoint", closedAddr(t)}, 3},
		{"sigv4, refused", append([]string{"--auth", "sigv4", "--endpoint", wss, "--region", "eu-west-1", "--sts-endpoint", sts.URL}, ca...), 4},
		{"cognito, offline", []string{"--auth", "cognito", "--cognito-identity-id", identityID, "--cognito-endpoint", cog.URL, "--endpoint", wss, "--region", "us-east-1"}, 0},
	}
	store := &profilestore.Store{Dir: os.Getenv("IOTCTL_HOME")}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Secret j comes by flag, env or profile as (i+j) % 3 says,
			// so every secret takes every way across the cases.
			args := append([]string(nil), tc.args...)
			inProfile := map[string]string{}
			for j, s := range secrets {
				switch (i + j) % 3 {
				case 0:
					args = append(args, "--"+s.name, s.value)
				case 1:
					t.Setenv(profile.EnvName(s.name), s.value)
				case 2:
					inProfile[s.name] = s.value
				}
			}
			name := fmt.Sprintf("secrets%d", i)
			if err := store.Save(name, inProfile); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--profile", name, "-v", "--debug", "whoami")
			if strings.HasSuffix(tc.name, "offline") {
				args = append(args, "--offline")
			}
			for _, format := range []string{"text", "json"} {
				r := run(t, append(args, "-o", format)...)
				if r.code() != tc.code {
					t.Errorf("%s: exit %d, want %d: %v\nstdout:\n%s\nstderr:\n%s", format, r.code(), tc.code, r.err, r.out, r.errOut)
				}
				all := r.out + r.errOut
				if r.err != nil {
					all += r.err.Error()
				}
				for _, leak := range []string{marker, signature, url.QueryEscape(signature)} {
					if i := strings.Index(all, leak); i >= 0 {
						t.Errorf("%s: output shows a secret (%q) at %q\nstdout:\n%s\nstderr:\n%s", format, leak, all[max(0, i-60):min(len(all), i+40)], r.out, r.errOut)
					}
				}
				if !strings.Contains(r.out, "password") || !strings.Contains(r.out, "****") {
					t.Errorf("%s: the secret settings are not listed, redacted:\n%s", format, r.out)
				}
			}
		})
	}
}
