package provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/session"
)

// wait bounds every wait; never part of an assertion.
const wait = 60 * time.Second

type runResult struct {
	out, errOut string
	err         error
}

func (r runResult) code() int { return cmdutil.ExitCode(r.err) }

// run executes `iotctl provision <args>` in-process on a tree like the
// root's; ctx may be cancelled to stand for a signal.
func run(ctx context.Context, t *testing.T, args ...string) runResult {
	t.Helper()
	out, errOut := &bytes.Buffer{}, &testenv.SyncBuffer{}
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f := cmdutil.NewFactory(ios, "test")
	root := clitest.Root(NewCmdProvision(f, nil), out, errOut)
	root.SetArgs(append([]string{"provision"}, args...))
	err := root.ExecuteContext(ctx)
	return runResult{out.String(), errOut.String(), err}
}

// isolate gives the test its own IOTCTL_HOME and no IOTCTL_* settings.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "IOTCTL_") && k != "IOTCTL_REQUIRE_PEERS" {
			t.Setenv(k, "")
		}
	}
	t.Setenv("IOTCTL_HOME", filepath.Join(dir, "home"))
	return dir
}

// fakeService answers the fleet provisioning topics on a plain broker, as
// a test peer for what the emulator never does (bad answers, silence,
// hostile thing names). answer, when set, replaces the default answer
// (accept, issue from ca, thing named after the SerialNumber parameter).
type fakeService struct {
	ca       *testpki.CA
	answer   func(topic string, req map[string]any) (accepted bool, body any, silent bool)
	mu       sync.Mutex
	requests []string // topics, in order
}

func startFake(t *testing.T, b *broker.Broker, fs *fakeService) {
	t.Helper()
	if fs.ca == nil {
		fs.ca = testpki.NewCA(t, "fake provisioning CA")
	}
	var (
		mu sync.Mutex
		s  *session.Session
	)
	st := testenv.Settings(t, "--endpoint", b.URL("mqtt"), "--client-id", "fake-provisioning")
	p, err := auth.New(st)
	if err != nil {
		t.Fatal(err)
	}
	handler := func(m *session.Message) error {
		var req map[string]any
		_ = json.Unmarshal(m.Payload, &req)
		fs.mu.Lock()
		fs.requests = append(fs.requests, m.Topic)
		fs.mu.Unlock()
		accepted, body, silent := fs.defaultAnswer(t, m.Topic, req)
		if fs.answer != nil {
			accepted, body, silent = fs.answer(m.Topic, req)
		}
		if silent {
			return nil
		}
		reply := m.Topic + "/rejected"
		if accepted {
			reply = m.Topic + "/accepted"
		}
		payload, _ := json.Marshal(body)
		mu.Lock()
		ss := s
		mu.Unlock()
		return ss.Publish(context.Background(), &session.Message{Topic: reply, Payload: payload, QoS: 1}, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	mu.Lock()
	defer mu.Unlock()
	s, err = session.Connect(ctx, session.Options{Settings: st, Provider: p, Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx, 0)
	})
	subs := []session.Subscription{
		{Filter: "$aws/certificates/create/json", QoS: 1},
		{Filter: "$aws/certificates/create-from-csr/json", QoS: 1},
		{Filter: "$aws/provisioning-templates/+/provision/json", QoS: 1},
	}
	if _, err := s.Subscribe(ctx, subs); err != nil {
		t.Fatal(err)
	}
}

func (fs *fakeService) seen() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.requests...)
}

// defaultAnswer is what AWS IoT answers to well-formed requests.
func (fs *fakeService) defaultAnswer(t *testing.T, topic string, req map[string]any) (bool, any, bool) {
	switch {
	case topic == "$aws/certificates/create/json":
		leaf := fs.ca.Client(t, "AWS IoT Certificate", testpki.Options{KeyType: testpki.RSA})
		return true, map[string]any{"certificateId": leaf.ID(), "certificatePem": string(leaf.CertPEM),
			"privateKey": string(leaf.KeyPEM), "certificateOwnershipToken": "token-" + leaf.ID()}, false
	case topic == "$aws/certificates/create-from-csr/json":
		s, _ := req["certificateSigningRequest"].(string)
		b, _ := pem.Decode([]byte(s))
		if b == nil {
			return false, reject(400, "InvalidCsr", "no CSR"), false
		}
		csr, err := x509.ParseCertificateRequest(b.Bytes)
		if err != nil || csr.CheckSignature() != nil {
			return false, reject(400, "InvalidCsr", "bad CSR"), false
		}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "AWS IoT Certificate"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, fs.ca.Cert, csr.PublicKey, fs.ca.Key)
		if err != nil {
			return false, reject(500, "InternalFailure", err.Error()), false
		}
		sum := sha256.Sum256(der)
		id := hex.EncodeToString(sum[:])
		return true, map[string]any{"certificateId": id, "certificateOwnershipToken": "token-" + id,
			"certificatePem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, false
	default: // RegisterThing
		params, _ := req["parameters"].(map[string]any)
		serial, _ := params["SerialNumber"].(string)
		if tok, _ := req["certificateOwnershipToken"].(string); !strings.HasPrefix(tok, "token-") {
			return false, reject(400, "InvalidCertificateOwnershipToken", "bad token"), false
		}
		if serial == "" {
			return false, reject(400, "InvalidParameters", "Missing parameter SerialNumber"), false
		}
		return true, map[string]any{"thingName": "thing-" + serial, "deviceConfiguration": map[string]any{"fw": "1.2"}}, false
	}
}

func reject(status int, code, msg string) map[string]any {
	return map[string]any{"statusCode": status, "errorCode": code, "errorMessage": msg}
}
