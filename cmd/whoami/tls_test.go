package whoami

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
)

// The TLS options against a real mosquitto with two TLS listeners, one of
// them TLS 1.3 only (mosquitto's tls_version is a minimum), and a
// certificate for the name "broker.test" only: matching
// settings connect and whoami reports what was negotiated (the ALPN
// negotiated is in the emulator's goldens: mosquitto 2.0.11 has none); mismatching
// ones fail with exit 3 (or 2 before connecting) and one line.
func TestTLSOptionsMosquitto(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "mosquitto CA")
	srv := ca.Server(t, "broker.test")
	certFile, keyFile := srv.Files(t, dir, "server")
	caFile := testpki.Write(t, dir, "ca.pem", ca.PEM)
	caDir := filepath.Join(dir, "capath")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		t.Fatal(err)
	}
	testpki.Write(t, caDir, "a1b2c3d4.0", ca.PEM)
	testpki.Write(t, caDir, "README", []byte("not a certificate\n"))
	emptyDir := t.TempDir()
	port, port13 := testpeer.FreePort(t), testpeer.FreePort(t)
	testpeer.StartMosquitto(t, testpeer.MosquittoConfig{Extra: fmt.Sprintf(
		"listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\nlistener %d 127.0.0.1\ncertfile %s\nkeyfile %s\ntls_version tlsv1.3",
		port, certFile, keyFile, port13, certFile, keyFile)})
	base := []string{"whoami", "--endpoint", fmt.Sprintf("mqtts://127.0.0.1:%d", port), "--auth", "none"}
	only13 := []string{"--endpoint", fmt.Sprintf("mqtts://127.0.0.1:%d", port13)}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in stdout (0) or stderr (else)
	}{
		{"server name and CA file", []string{"--ca-file", caFile, "--server-name", "broker.test"}, 0,
			[]string{"TLS version:              TLS 1.3", "cipher suite:", "ALPN:                     - (none negotiated)"}},
		{"CA path (c_rehash names)", []string{"--ca-path", caDir, "--server-name", "broker.test"}, 0,
			[]string{"TLS version:              TLS 1.3"}},
		{"maximum 1.2, mosquitto's spelling", []string{"--ca-file", caFile, "--server-name", "broker.test", "--tls-version", "tlsv1.2", "--tls-max-version", "TLSv1.2"}, 0,
			[]string{"TLS version:              TLS 1.2"}},
		{"minimum 1.3 against a 1.3-only listener", append([]string{"--ca-file", caFile, "--server-name", "broker.test", "--tls-version", "1.3"}, only13...), 0,
			[]string{"TLS version:              TLS 1.3"}},
		{"maximum 1.2 against a 1.3-only listener", append([]string{"--ca-file", caFile, "--server-name", "broker.test", "--tls-max-version", "1.2"}, only13...), 3,
			[]string{"share no TLS version", "--tls-max-version"}},
		{"no server name: the IP is not in the certificate", []string{"--ca-file", caFile}, 3,
			[]string{"127.0.0.1"}},
		{"wrong server name", []string{"--ca-file", caFile, "--server-name", "other.test"}, 3,
			[]string{"other.test"}},
		{"maximum below minimum", []string{"--ca-file", caFile, "--tls-version", "1.3", "--tls-max-version", "1.2"}, 2,
			[]string{"--tls-max-version 1.2 is below --tls-version 1.3"}},
		{"unknown version", []string{"--tls-version", "1.1"}, 2,
			[]string{"1.1", "tls-version"}},
		{"empty CA path", []string{"--ca-path", emptyDir, "--server-name", "broker.test"}, 2,
			[]string{"no PEM certificates"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append(append([]string{}, base...), tc.args...)...)
			if r.code() != tc.code {
				t.Fatalf("exit %d, want %d: %v\nstdout:\n%s\nstderr:\n%s", r.code(), tc.code, r.err, r.out, r.errOut)
			}
			text := r.out
			if tc.code != 0 {
				text = r.err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("want %q in:\n%s", w, text)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		r := mustRun(t, append(append([]string{}, base...), "--ca-file", caFile, "--server-name", "broker.test", "--tls-max-version", "1.2", "-o", "json")...)
		m := decode(t, r.out)
		if field(m, "tls", "version") != "TLS 1.2" || field(m, "tls", "cipher_suite") == "" {
			t.Errorf("tls: %v", field(m, "tls"))
		}
	})
}
