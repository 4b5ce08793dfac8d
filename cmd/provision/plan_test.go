package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testenv"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// TestCheckRefuses: bad flags, hostile --out paths, parameters, CSRs and
// profile names are usage errors (exit 2) before connecting — the
// endpoint is a port nothing listens on, so a connection attempt would be
// exit 3 — and nothing is created.
func TestCheckRefuses(t *testing.T) {
	dir := isolate(t)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	taken := filepath.Join(dir, "taken")
	os.MkdirAll(taken, 0o700)
	os.WriteFile(filepath.Join(taken, certName), []byte("old"), 0o600)
	keyTaken := filepath.Join(dir, "keytaken")
	os.MkdirAll(keyTaken, 0o700)
	os.WriteFile(filepath.Join(keyTaken, keyName), []byte("old"), 0o600)
	dirTaken := filepath.Join(dir, "dirtaken")
	os.MkdirAll(filepath.Join(dirTaken, keyName), 0o700)
	notCSR := filepath.Join(dir, "cert.pem")
	os.WriteFile(notCSR, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	badSig := filepath.Join(dir, "badsig.csr")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	der[len(der)-3] ^= 0xff // in the signature
	os.WriteFile(badSig, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600)
	edCSR := filepath.Join(dir, "ed25519.csr")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	der, _ = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, edKey)
	os.WriteFile(edCSR, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600)
	big := filepath.Join(dir, "big.csr")
	os.WriteFile(big, make([]byte, maxCSR+1), 0o600)
	store := &profilestore.Store{Dir: os.Getenv("IOTCTL_HOME")}
	if err := store.Save("existing", map[string]string{"endpoint": "example.com"}); err != nil {
		t.Fatal(err)
	}

	type tc struct {
		name string
		args []string
		want string
	}
	tests := []tc{
		{"no template", []string{"--out", "o"}, "no template"},
		{"template with a slash", []string{"--template", "a/../b", "--out", "o"}, `invalid --template "a/../b"`},
		{"template with a wildcard", []string{"--template", "#", "--out", "o"}, `invalid --template "#"`},
		{"template with a newline", []string{"--template", "a\nb", "--out", "o"}, "invalid --template"},
		{"template too long", []string{"--template", strings.Repeat("t", 37), "--out", "o"}, "invalid --template"},
		{"no out", []string{"--template", "T"}, "no --out DIR"},
		{"csr and create-key", []string{"--template", "T", "--out", "o", "--csr", "x", "--create-key"}, "not both"},
		{"timeout", []string{"--template", "T", "--out", "o", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{"param without =", []string{"--template", "T", "--out", "o", "--param", "SerialNumber"}, "want KEY=VALUE"},
		{"param without key", []string{"--template", "T", "--out", "o", "--param", "=v"}, "want KEY=VALUE"},
		{"param twice", []string{"--template", "T", "--out", "o", "--param", "a=1", "--param", "a=2"}, `--param "a" given twice`},
		{"param not UTF-8", []string{"--template", "T", "--out", "o", "--param", "a=\xff"}, "not valid UTF-8"},
		{"out is a file", []string{"--template", "T", "--out", file}, "is not a folder"},
		{"out under a file", []string{"--template", "T", "--out", filepath.Join(file, "sub")}, "--out"},
		{"certificate exists", []string{"--template", "T", "--out", taken}, certName + " exists: give --force"},
		{"key exists", []string{"--template", "T", "--out", keyTaken}, keyName + " exists: give --force"},
		{"key is a folder, even with --force", []string{"--template", "T", "--out", dirTaken, "--force"}, keyName + " is a folder"},
		{"csr missing", []string{"--template", "T", "--out", "o", "--csr", filepath.Join(dir, "nope.csr")}, "--csr"},
		{"csr is a certificate", []string{"--template", "T", "--out", "o", "--csr", notCSR}, "no PEM CERTIFICATE REQUEST"},
		{"csr signature", []string{"--template", "T", "--out", "o", "--csr", badSig}, "signature does not verify"},
		{"csr of an Ed25519 key", []string{"--template", "T", "--out", "o", "--csr", edCSR}, "a key of type Ed25519: an RSA (2048 bits or more) or ECDSA"},
		{"csr too big", []string{"--template", "T", "--out", "o", "--csr", big}, "over 64 KiB"},
		{"profile name with a path", []string{"--template", "T", "--out", "o", "--save-profile", "../evil"}, "invalid profile name"},
		{"profile name of a device", []string{"--template", "T", "--out", "o", "--save-profile", "con"}, "Windows reserves"},
		{"profile exists", []string{"--template", "T", "--out", "o", "--save-profile", "existing"}, "the profile exists"},
	}
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, "link")
		os.MkdirAll(link, 0o700)
		os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(link, keyName))
		tests = append(tests, tc{"key is a dangling symlink", []string{"--template", "T", "--out", link}, keyName + " exists"})
		locked := filepath.Join(dir, "locked")
		os.MkdirAll(locked, 0o500)
		if os.Geteuid() != 0 { // root writes anywhere
			tests = append(tests, tc{"out not writable", []string{"--template", "T", "--out", filepath.Join(locked, "sub")}, "cannot write in"})
		}
	}
	wd, _ := os.Getwd()
	os.Chdir(dir)
	t.Cleanup(func() { os.Chdir(wd) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(context.Background(), t, append([]string{"--endpoint", "127.0.0.1:1"}, tt.args...)...)
			if r.code() != 2 || !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("exit %d: %v; want exit 2 with %q", r.code(), r.err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "o")); !os.IsNotExist(err) {
				t.Fatalf("--out o was made: %v", err)
			}
			if r.out != "" {
				t.Errorf("stdout %q", r.out)
			}
		})
	}
	if entries, _ := os.ReadDir(taken); len(entries) != 1 {
		t.Errorf("files left in %s: %v", taken, entries)
	}
}

// TestHostileParameters: parameters reach the service exactly, whatever
// characters they hold, and --out may be a relative path with odd names.
func TestHostileParameters(t *testing.T) {
	dir := isolate(t)
	b := testenv.StartBroker(t, broker.Options{})
	fs := &fakeService{}
	var got map[string]any
	fs.answer = func(topic string, req map[string]any) (bool, any, bool) {
		if p, ok := req["parameters"].(map[string]any); ok {
			got = p
		}
		return fs.defaultAnswer(t, topic, req)
	}
	startFake(t, b, fs)
	params := map[string]string{
		"SerialNumber": "1",
		"quote":        `a"},"x":{"`,
		"newline":      "a\nb\r\n",
		"escape":       "\x1b[31mred\x00",
		"unicode":      "Grüße 🛰",
		"empty":        "",
		"equals":       "a=b=c",
		"${ref}":       "${iot:ClientId}",
	}
	args := []string{"--endpoint", b.URL("mqtt"), "--template", "Fleet", "--out", filepath.Join(dir, "-o dir", "..", "dev ice")}
	for k, v := range params {
		args = append(args, "--param", k+"="+v)
	}
	r := run(context.Background(), t, args...)
	if r.err != nil {
		t.Fatalf("exit %d: %v", r.code(), r.err)
	}
	if len(got) != len(params) {
		t.Errorf("parameters sent: %q", got)
	}
	for k, v := range params {
		if got[k] != v {
			t.Errorf("parameter %q: sent %q, want %q", k, got[k], v)
		}
	}
	certAndKey(t, filepath.Join(dir, "dev ice"))
}
