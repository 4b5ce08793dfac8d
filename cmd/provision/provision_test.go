package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/internal/clitest"
	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

func TestNewCmdProvisionFlags(t *testing.T) {
	var got *Options
	ios, _, out, errOut := cmdutil.Test()
	root := clitest.Root(NewCmdProvision(cmdutil.NewFactory(ios, "test"), func(_ context.Context, o *Options) error { got = o; return nil }), out, errOut)
	root.SetArgs([]string{"provision", "--template", "T", "--param", "a=b=c", "--param", "x=", "--create-key",
		"--out", "d", "--save-profile", "p", "--force", "--timeout", "3s"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Template != "T" || !slices.Equal(got.Params, []string{"a=b=c", "x="}) || !got.CreateKey || got.Out != "d" ||
		got.SaveProfile != "p" || !got.Force || got.Timeout.String() != "3s" || got.CSR != "" {
		t.Errorf("options = %+v", got)
	}
}

// certAndKey reads what provision wrote and checks the modes and that the
// key is the certificate's.
func certAndKey(t *testing.T, dir string) (*x509.Certificate, []byte) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, certName))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyName))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	if runtime.GOOS != "windows" {
		for _, n := range []string{certName, keyName} {
			fi, _ := os.Stat(filepath.Join(dir, n))
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %04o, want 0600", n, fi.Mode().Perm())
			}
		}
	}
	c, _ := x509.ParseCertificate(pair.Certificate[0])
	return c, keyPEM
}

// TestProvisionKeyPaths: the service's key, a key made here (the request
// carries only its CSR) and the user's CSR, against a test peer of the
// service on a real broker.
func TestProvisionKeyPaths(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	fs := &fakeService{}
	var csrSent string
	fs.answer = func(topic string, req map[string]any) (bool, any, bool) {
		if s, ok := req["certificateSigningRequest"].(string); ok {
			csrSent = s
		}
		return fs.defaultAnswer(t, topic, req)
	}
	startFake(t, b, fs)
	ep := []string{"--endpoint", b.URL("mqtt")}

	out := filepath.Join(dir, "service")
	r := run(context.Background(), t, append(ep, "--template", "Fleet", "--param", "SerialNumber=0042", "--out", out, "-v", "--debug")...)
	if r.err != nil {
		t.Fatalf("exit %d: %v\n%s", r.code(), r.err, r.errOut)
	}
	// -v and --debug show the steps, never the key or the ownership token.
	if !strings.Contains(r.errOut, "RegisterThing: thing thing-0042 registered") || strings.Contains(r.out+r.errOut, "PRIVATE KEY") || strings.Contains(r.out+r.errOut, "token-") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
	if !strings.Contains(r.out, "Thing name      thing-0042\n") || !strings.Contains(r.out, "Certificate ID  ") {
		t.Errorf("stdout = %q", r.out)
	}
	certAndKey(t, out)
	if want := []string{"$aws/certificates/create/json", "$aws/provisioning-templates/Fleet/provision/json"}; !slices.Equal(fs.seen(), want) {
		t.Errorf("requests %v, want %v", fs.seen(), want)
	}

	out = filepath.Join(dir, "created")
	r = run(context.Background(), t, append(ep, "--template", "Fleet", "--param", "SerialNumber=7", "--create-key", "--out", out, "-o", "json")...)
	if r.err != nil {
		t.Fatalf("exit %d: %v\n%s", r.code(), r.err, r.errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("stdout is no JSON document: %v\n%s", err, r.out)
	}
	if res["thing_name"] != "thing-7" || res["key"] != "created" || res["key_file"] != filepath.Join(out, keyName) ||
		res["device_configuration"].(map[string]any)["fw"] != "1.2" {
		t.Errorf("result %v", res)
	}
	_, keyPEM := certAndKey(t, out)
	if strings.Contains(csrSent, "PRIVATE") || !strings.Contains(csrSent, "CERTIFICATE REQUEST") {
		t.Errorf("the request carried %q", csrSent)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("key file: %q", keyPEM)
	} else if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil || k.(*ecdsa.PrivateKey).Curve != elliptic.P256() {
		t.Errorf("key is %T, %v: want ECDSA P-256", k, err)
	}

	// --csr: the user's key stays theirs; only the certificate is written.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	csrFile := filepath.Join(dir, "device.csr")
	os.WriteFile(csrFile, append([]byte("junk before\n"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})...), 0o600)
	out = filepath.Join(dir, "csr")
	r = run(context.Background(), t, append(ep, "--template", "Fleet", "--param", "SerialNumber=8", "--csr", csrFile, "--out", out)...)
	if r.err != nil {
		t.Fatalf("exit %d: %v\n%s", r.code(), r.err, r.errOut)
	}
	certPEM, _ := os.ReadFile(filepath.Join(out, certName))
	if _, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})); err != nil {
		t.Errorf("certificate is not for the CSR's key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, keyName)); !os.IsNotExist(err) {
		t.Errorf("a key file was written with --csr: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestProvisionRejected: a rejection is exit 4 naming statusCode,
// errorCode and errorMessage (escaped), and nothing is written.
func TestProvisionRejected(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	fs := &fakeService{}
	startFake(t, b, fs)
	out := filepath.Join(dir, "out")
	r := run(context.Background(), t, "--endpoint", b.URL("mqtt"), "--template", "Fleet", "--out", out, "--save-profile", "dev1")
	if r.code() != 4 {
		t.Fatalf("exit %d, want 4: %v", r.code(), r.err)
	}
	for _, want := range []string{`RegisterThing with template Fleet rejected: statusCode 400, errorCode InvalidParameters, errorMessage "Missing parameter SerialNumber"`} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error %q lacks %q", r.err, want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out made or written after a rejection: %v", err)
	}
	if (&profilestore.Store{Dir: os.Getenv("IOTCTL_HOME")}).Exists("dev1") {
		t.Error("profile saved after a rejection")
	}

	fs.answer = func(topic string, req map[string]any) (bool, any, bool) {
		return false, reject(403, "Forbidden\x1b[31m", "no\nway"), false
	}
	r = run(context.Background(), t, "--endpoint", b.URL("mqtt"), "--template", "Fleet", "--out", out)
	if r.code() != 4 || !strings.Contains(r.err.Error(), "CreateKeysAndCertificate") || !strings.Contains(r.err.Error(), `statusCode 403, errorCode Forbidden\x1b[31m, errorMessage "no\nway"`) {
		t.Errorf("exit %d: %v", r.code(), r.err)
	}
}

// TestProvisionBadAnswers: answers iotctl cannot use are exit 1 and write
// nothing; silence is exit 5 after --timeout.
func TestProvisionBadAnswers(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	fs := &fakeService{}
	startFake(t, b, fs)
	for _, tt := range []struct {
		name   string
		answer func(topic string, req map[string]any) (bool, any, bool)
		args   []string
		code   int
		want   string
	}{
		{"not JSON", func(string, map[string]any) (bool, any, bool) { return true, "text", false }, nil, 1, "not the JSON object expected"},
		{"no token", func(string, map[string]any) (bool, any, bool) {
			return true, map[string]any{"certificateId": "x", "certificatePem": "y", "privateKey": "z"}, false
		}, nil, 1, "certificateOwnershipToken missing"},
		{"key of another certificate", func(topic string, req map[string]any) (bool, any, bool) {
			_, a, _ := fs.defaultAnswer(t, topic, req)
			_, other, _ := fs.defaultAnswer(t, topic, req)
			a.(map[string]any)["privateKey"] = other.(map[string]any)["privateKey"]
			return true, a, false
		}, nil, 1, "privateKey does not match certificatePem"},
		{"certificate for another key", func(topic string, req map[string]any) (bool, any, bool) {
			_, a, _ := fs.defaultAnswer(t, "$aws/certificates/create/json", req)
			return true, a, false
		}, []string{"--create-key"}, 1, "is not for the key of the request"},
		{"no thing name", func(topic string, req map[string]any) (bool, any, bool) {
			if strings.HasPrefix(topic, "$aws/certificates/") {
				return fs.defaultAnswer(t, topic, req)
			}
			return true, map[string]any{}, false
		}, nil, 1, "thingName missing"},
		{"silence", func(string, map[string]any) (bool, any, bool) { return false, nil, true }, []string{"--timeout", "300ms"}, 5, "no answer to $aws/certificates/create/json in time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs.answer = tt.answer
			out := filepath.Join(dir, tt.name)
			args := append([]string{"--endpoint", b.URL("mqtt"), "--template", "Fleet", "--param", "SerialNumber=1", "--out", out}, tt.args...)
			r := run(context.Background(), t, args...)
			if r.code() != tt.code || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("exit %d: %v; want exit %d with %q", r.code(), r.err, tt.code, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("--out made or written: %v", err)
			}
		})
	}
}

// TestProvisionHostileThingName: a thing name with control characters is
// printed escaped.
func TestProvisionHostileThingName(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	fs := &fakeService{}
	fs.answer = func(topic string, req map[string]any) (bool, any, bool) {
		if strings.HasPrefix(topic, "$aws/certificates/") {
			return fs.defaultAnswer(t, topic, req)
		}
		return true, map[string]any{"thingName": "evil\x1b]0;title\x07\nline"}, false
	}
	startFake(t, b, fs)
	r := run(context.Background(), t, "--endpoint", b.URL("mqtt"), "--template", "Fleet", "--out", filepath.Join(dir, "o"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if strings.ContainsAny(r.out+r.errOut, "\x1b\x07") || !strings.Contains(r.out, `evil\x1b]0;title\x07\nline`) {
		t.Errorf("stdout %q", r.out)
	}
}

// TestProvisionInterrupted: a signal while waiting for the service ends
// the run as interrupted (130), writing nothing.
func TestProvisionInterrupted(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	fs := &fakeService{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs.answer = func(string, map[string]any) (bool, any, bool) { cancel(); return false, nil, true }
	startFake(t, b, fs)
	out := filepath.Join(dir, "o")
	r := run(ctx, t, "--endpoint", b.URL("mqtt"), "--template", "Fleet", "--out", out)
	if r.code() != 130 {
		t.Errorf("exit %d: %v, want 130", r.code(), r.err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--out made: %v", err)
	}
}

// TestProvisionFileMadeMeanwhile: a certificate file another process made
// while the requests ran is left alone; the run is exit 7, naming the
// provisioned thing and the key it did write.
func TestProvisionFileMadeMeanwhile(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	out := filepath.Join(dir, "out")
	fs := &fakeService{}
	fs.answer = func(topic string, req map[string]any) (bool, any, bool) {
		if strings.HasPrefix(topic, "$aws/provisioning-templates/") {
			os.MkdirAll(out, 0o700)
			os.WriteFile(filepath.Join(out, certName), []byte("theirs"), 0o600)
		}
		return fs.defaultAnswer(t, topic, req)
	}
	startFake(t, b, fs)
	r := run(context.Background(), t, "--endpoint", b.URL("mqtt"), "--template", "Fleet", "--param", "SerialNumber=9", "--out", out)
	if r.code() != 7 {
		t.Fatalf("exit %d: %v, want 7", r.code(), r.err)
	}
	for _, want := range []string{"thing thing-9 was provisioned with certificate", "created meanwhile", "the private key was written to " + filepath.Join(out, keyName)} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error %q lacks %q", r.err, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(out, certName)); string(got) != "theirs" {
		t.Errorf("their file was replaced: %q", got)
	}
}
