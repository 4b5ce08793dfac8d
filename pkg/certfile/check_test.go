package certfile

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
	"software.sslmate.com/src/go-pkcs12"
)

func settingsWith(t *testing.T, values map[string]string) *profile.Settings {
	t.Helper()
	s := &profilestore.Store{Dir: filepath.Join(t.TempDir(), "home")}
	if err := s.Save("p", values); err != nil {
		t.Fatal(err)
	}
	got, err := profile.ResolveNamed(nil, s, "p")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func checkOf(t *testing.T, checks []Check, setting string) Check {
	t.Helper()
	for _, c := range checks {
		if c.Setting == setting {
			return c
		}
	}
	t.Fatalf("no check for %s in %+v", setting, checks)
	return Check{}
}

func TestCheckFilesCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Test CA")
	now := time.Now()
	long := ca.Client(t, "thing", testpki.Options{NotAfter: now.Add(400 * 24 * time.Hour)})
	soon := ca.Client(t, "soon", testpki.Options{NotAfter: now.Add(10 * 24 * time.Hour)})
	expired := ca.Client(t, "old", testpki.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := ca.Client(t, "future", testpki.Options{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	other := ca.Client(t, "other", testpki.Options{})

	tests := []struct {
		name   string
		leaf   *testpki.Leaf
		status Status
		detail string
	}{
		{"valid", long, CheckOK, "CN=thing"},
		{"expiring", soon, CheckWarn, "expires in"},
		{"expired", expired, CheckFail, "expired"},
		{"not yet valid", future, CheckFail, "not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, key := tt.leaf.Files(t, dir, tt.name)
			checks := CheckFiles(settingsWith(t, map[string]string{"cert": cert, "key": key}), now)
			c := checkOf(t, checks, "cert")
			if c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) || c.File != cert {
				t.Errorf("cert check = %+v, want %s with %q", c, tt.status, tt.detail)
			}
			if k := checkOf(t, checks, "key"); k.Status != CheckOK || !strings.Contains(k.Detail, "ECDSA P-256 private key (PKCS#8)") {
				t.Errorf("key check = %+v", k)
			}
			if p := checkOf(t, checks, "cert+key"); p.Status != CheckOK {
				t.Errorf("pair check = %+v", p)
			}
		})
	}

	t.Run("mismatched key", func(t *testing.T) {
		cert, _ := long.Files(t, dir, "m1")
		_, key := other.Files(t, dir, "m2")
		checks := CheckFiles(settingsWith(t, map[string]string{"cert": cert, "key": key}), now)
		if p := checkOf(t, checks, "cert+key"); p.Status != CheckFail || !strings.Contains(p.Detail, "does not match") {
			t.Errorf("pair check = %+v", p)
		}
	})

	t.Run("ca bundle", func(t *testing.T) {
		ca2 := testpki.NewCA(t, "Second CA")
		bundle := testpki.Write(t, dir, "bundle.pem", append(append([]byte{}, ca.PEM...), ca2.PEM...))
		c := checkOf(t, CheckFiles(settingsWith(t, map[string]string{"ca-file": bundle}), now), "ca-file")
		// testpki CAs live a day: within the 30-day warning.
		if c.Status != CheckWarn || !strings.Contains(c.Detail, "2 CA certificate(s)") {
			t.Errorf("ca check = %+v", c)
		}
		later := CheckFiles(settingsWith(t, map[string]string{"ca-file": bundle}), now.Add(72*time.Hour))
		if c := checkOf(t, later, "ca-file"); c.Status != CheckFail || !strings.Contains(c.Detail, "none valid now") {
			t.Errorf("expired bundle = %+v", c)
		}
	})

	t.Run("not PEM", func(t *testing.T) {
		junk := testpki.Write(t, dir, "junk.pem", []byte("hello\n"))
		checks := CheckFiles(settingsWith(t, map[string]string{"cert": junk, "key": junk, "ca-file": junk}), now)
		for _, name := range []string{"cert", "key", "ca-file"} {
			if c := checkOf(t, checks, name); c.Status != CheckFail || !strings.Contains(c.Detail, "no PEM") {
				t.Errorf("%s check = %+v", name, c)
			}
		}
		for _, c := range checks {
			if c.Setting == "cert+key" {
				t.Errorf("pair check on unreadable material: %+v", c)
			}
		}
	})

	t.Run("missing file", func(t *testing.T) {
		c := checkOf(t, CheckFiles(settingsWith(t, map[string]string{"cert": dir + "/nope.pem"}), now), "cert")
		if c.Status != CheckFail || c.Detail != "no such file" {
			t.Errorf("check = %+v", c)
		}
	})
}

func TestCheckFilesKeyFormats(t *testing.T) {
	dir := t.TempDir()
	rsaKey := testpki.NewKey(t, testpki.RSA).(*rsa.PrivateKey)
	ecKey := testpki.NewKey(t, testpki.EC).(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(b *pem.Block) []byte { return pem.EncodeToMemory(b) }
	tests := []struct {
		name     string
		data     []byte
		password string
		status   Status
		detail   string
	}{
		{"pkcs1", pemOf(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), "", CheckOK, "RSA 2048 private key (PKCS#1)"},
		{"sec1", pemOf(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "", CheckOK, "ECDSA P-256 private key (SEC1)"},
		{"sec1 after params", append(pemOf(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}), pemOf(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), "", CheckOK, "(SEC1)"},
		{"encrypted pkcs8", pemOf(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}), "", CheckFail, "encrypted PKCS#8 key"},
		{"encrypted pkcs8 with password", pemOf(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}), "pw", CheckFail, "cannot decrypt"},
		{"legacy encrypted", pemOf(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: []byte{1, 2, 3}}), "", CheckFail, "is encrypted: give its password with --key-password"},
		{"corrupt", pemOf(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "", CheckFail, "not a private key"},
		{"certificate only", testpki.NewCA(t, "x").PEM, "", CheckFail, "holds a certificate, not a private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testpki.Write(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".key", tt.data)
			c := checkOf(t, CheckFiles(settingsWith(t, map[string]string{"key": path, "key-password": tt.password}), time.Now()), "key")
			if c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) {
				t.Errorf("check = %+v, want %s with %q", c, tt.status, tt.detail)
			}
			if tt.password != "" && strings.Contains(c.Detail, tt.password) {
				t.Errorf("detail shows the password: %q", c.Detail)
			}
		})
	}
}

func TestCheckFilesOthers(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "CA")
	leaf := ca.Client(t, "p12thing", testpki.Options{NotAfter: time.Now().Add(100 * 24 * time.Hour)})
	p12, err := pkcs12.Modern.Encode(leaf.Key, leaf.Cert, []*x509.Certificate{ca.Cert}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	p12Path := testpki.Write(t, dir, "thing.p12", p12)
	pwPath := testpki.Write(t, dir, "pw", []byte("hunter2\n"))
	emptyPath := testpki.Write(t, dir, "empty", nil)
	lib := testpki.Write(t, dir, "lib.so", []byte{0x7f, 'E', 'L', 'F'})

	checks := CheckFiles(settingsWith(t, map[string]string{"pkcs12-file": p12Path, "pkcs12-password": "s3cret", "password-file": pwPath, "pkcs11-lib": lib}), time.Now())
	if c := checkOf(t, checks, "pkcs12-file"); c.Status != CheckOK || !strings.Contains(c.Detail, "CN=p12thing") || !strings.Contains(c.Detail, "+1 CA") {
		t.Errorf("pkcs12 = %+v", c)
	}
	if c := checkOf(t, checks, "password-file"); c.Status != CheckOK || strings.Contains(c.Detail, "hunter2") {
		t.Errorf("password-file = %+v", c)
	}
	if c := checkOf(t, checks, "pkcs11-lib"); c.Status != CheckOK {
		t.Errorf("pkcs11-lib = %+v", c)
	}

	checks = CheckFiles(settingsWith(t, map[string]string{"pkcs12-file": p12Path, "password-file": emptyPath}), time.Now())
	if c := checkOf(t, checks, "pkcs12-file"); c.Status != CheckFail || !strings.Contains(c.Detail, "IOTCTL_PKCS12_PASSWORD") {
		t.Errorf("pkcs12 without password = %+v", c)
	}
	if c := checkOf(t, checks, "password-file"); c.Status != CheckFail {
		t.Errorf("empty password-file = %+v", c)
	}

	if runtime.GOOS != "windows" {
		os.Chmod(pwPath, 0o644)
		c := checkOf(t, CheckFiles(settingsWith(t, map[string]string{"password-file": pwPath}), time.Now()), "password-file")
		if c.Status != CheckWarn || !strings.Contains(c.Detail, "chmod 600") {
			t.Errorf("world-readable password-file = %+v", c)
		}
	}

	if c := checkOf(t, CheckFiles(settingsWith(t, map[string]string{"endpoint": "mqtts://h:99999"}), time.Now()), "endpoint"); c.Status != CheckFail {
		t.Errorf("bad endpoint = %+v", c)
	}
}
