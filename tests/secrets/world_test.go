package secrets

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/awsfake"
	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The secrets: long, distinct and easy to find in any output.
const (
	secPassword     = "Pw-3f9a1c-SECRET-password"
	secKeyPassword  = "Kp-7d2e4b-SECRET-key-password"
	secP12Password  = "P12-9c1f3a-SECRET-pkcs12"
	secPIN          = "PIN-4e8b2d-SECRET"
	secToken        = "Tok-a1b2c3-SECRET-token-value"
	secSignature    = "Sig+b64/SECRET+signature=="
	secAuthorizerPw = "AzPw-5f6e7d-SECRET"
	secAWSSecret    = "AwsSk-0a9b8c-SECRET/secret+key"
	secAWSToken     = "AwsTok-1b2c3d-SECRET/session+token=="
	secLogin        = "Login-2c3d4e-SECRET-id-token"
	secProxy        = "Px-6a7b8c-SECRET-proxy"
	secCognitoKey   = "CogSk-3d4e5f-SECRET/issued+key"
	secCognitoToken = "CogTok-4e5f6a-SECRET/issued+token"
	awsAKID         = "AKIDSECRETSTEST"
	cognitoAKID     = "ASIACOGNITOTEST"
	cognitoID       = "us-east-1:11111111-2222-3333-4444-555555555555"
	hsmSOPIN        = "5678-so"
)

// world is one embedded broker with every listener the auth methods need
// (plain TCP, mutual TLS, websocket with SigV4 checked at the upgrade), a
// fake Cognito, a SoftHSM2 token and the client's files.
type world struct {
	dir                       string
	caFile                    string
	certFile, keyFile, encKey string
	p12File                   string
	plainURL, tlsURL, wsURL   string
	serverCAFile              string // CA of the TLS listener's certificate
	cognitoURL                string
	softhsmConf, softhsmLib   string
	awsProfileDir             string // holds .aws/credentials with profile "leaky"
	policyFile                string
	proxyAddr                 string // tinyproxy wanting user bob, password secProxy; "" when not installed
	socksAddr                 string // microsocks wanting user bob, password secProxy; "" when not installed
}

// denyHook refuses client IDs starting with deny- (the failure path: the
// credentials were sent, then the broker said no).
type denyHook struct{ broker.HookBase }

func (h *denyHook) ID() string { return "secrets-deny" }
func (h *denyHook) Provides(b byte) bool {
	return b == broker.OnConnectAuthenticate || b == broker.OnACLCheck
}
func (h *denyHook) OnConnectAuthenticate(cl *broker.Client, pk packets.Packet) bool {
	return !strings.HasPrefix(pk.Connect.ClientIdentifier, "deny-")
}
func (h *denyHook) OnACLCheck(*broker.Client, string, bool) bool { return true }

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	write := func(name string, data []byte) string { return testpki.Write(t, w.dir, name, data) }
	ca := testpki.NewCA(t, "secrets CA")
	w.caFile = write("ca.pem", ca.PEM)
	leaf := ca.Client(t, "secrets-client", testpki.Options{})
	w.certFile, w.keyFile = leaf.Files(t, w.dir, "client")
	der, err := x509.MarshalECPrivateKey(leaf.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(secKeyPassword), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	w.encKey = write("enc.key", pem.EncodeToMemory(block))
	p12, err := gopkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, secP12Password)
	if err != nil {
		t.Fatal(err)
	}
	w.p12File = write("client.p12", p12)
	w.policyFile = write("policy.json", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/*"}]}`))

	srv := ca.Server(t, "127.0.0.1", "localhost")
	sc, sk := srv.Files(t, w.dir, "server")
	w.serverCAFile = w.caFile
	lookup := func(akid string) (string, string, bool) {
		switch akid {
		case awsAKID:
			return secAWSSecret, secAWSToken, true
		case cognitoAKID:
			return secCognitoKey, secCognitoToken, true
		}
		return "", "", false
	}
	b, err := broker.New(broker.Options{
		Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", WSListen: "127.0.0.1:0",
		TLSCert: sc, TLSKey: sk, ClientCA: w.caFile, Home: t.TempDir(),
		Hooks: []broker.Hook{&denyHook{}},
		Authorize: func(r *http.Request) (any, int) {
			if _, err := auth.VerifyPresignedURL(r, lookup, time.Now()); err != nil {
				return nil, http.StatusForbidden
			}
			return nil, http.StatusOK
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	w.plainURL, w.tlsURL, w.wsURL = b.URL(broker.MQTT), b.URL(broker.MQTTS), b.URL(broker.WS)
	if err := b.Publish("secrets/retained", []byte("kept"), true, 0); err != nil {
		t.Fatal(err)
	}

	cog := awsfake.NewCognito(t, awsfake.Identities(map[string]awsfake.Identity{
		cognitoID: {
			Logins: map[string]string{"accounts.google.com": secLogin},
			Credentials: func() awsfake.CognitoCredentials {
				return awsfake.CognitoCredentials{AccessKeyID: cognitoAKID, SecretKey: secCognitoKey, SessionToken: secCognitoToken, Expiration: time.Now().Add(time.Hour)}
			},
		},
	}))
	w.cognitoURL = cog.URL

	// A shared credentials file for --aws-profile leaky.
	w.awsProfileDir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(w.awsProfileDir, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	testpki.Write(t, filepath.Join(w.awsProfileDir, ".aws"), "credentials", []byte(fmt.Sprintf(
		"[leaky]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n", awsAKID, secAWSSecret, secAWSToken)))

	w.softhsm(t, leaf)
	if _, err := exec.LookPath("tinyproxy"); err == nil {
		port, err := strconv.Atoi(w.plainURL[strings.LastIndexByte(w.plainURL, ':')+1:])
		if err != nil {
			t.Fatal(err)
		}
		w.proxyAddr = testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "bob", Pass: secProxy, ConnectPorts: []int{port}}).Addr()
	}
	if _, err := exec.LookPath("microsocks"); err == nil {
		w.socksAddr = testpeer.StartMicrosocks(t, testpeer.MicrosocksConfig{User: "bob", Pass: secProxy}).Addr()
	}
	return w
}

// softhsm puts the client key and certificate on a SoftHSM2 token whose
// user PIN is secPIN.
func (w *world) softhsm(t *testing.T, leaf *testpki.Leaf) {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return // the PKCS#11 cases then say what is missing
	}
	h := testpeer.StartSoftHSM(t)
	w.softhsmLib, w.softhsmConf = h.Lib, h.Conf
	h.InitToken(t, "secrets", hsmSOPIN, secPIN)
	h.ImportKey(t, "secrets", secPIN, leaf.Key, "01", "k1")
	h.ImportCert(t, "secrets", secPIN, leaf.DER, "01", "k1")
}
