package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
)

// TestSSLKeyLogFile: with SSLKEYLOGFILE set, mqtts and wss connections
// append their TLS session keys to it in the NSS key log format (what
// Wireshark reads), the file is created 0600 and kept (appended), and each
// run warns once on stderr (issue 13, item 5).
func TestSSLKeyLogFile(t *testing.T) {
	w := newWorld(t)
	leaf, cert, key := w.device(t, testpki.EC)
	w.start(t, iot.Config{
		Credentials: []iot.Credential{{AccessKeyID: "AKIAE2EKEYLOG", SecretAccessKey: "keylogSecret"}},
		Policies: append(certPolicies(t, leaf),
			iot.Policy{Principal: "akid:AKIAE2EKEYLOG", Doc: mustParse(t, seedPolicy)}),
	})
	keylog := filepath.Join(t.TempDir(), "keys.log")
	const before = "# kept from an earlier capture\n"
	if err := os.WriteFile(keylog, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SSLKEYLOGFILE=" + keylog}
	secret := regexp.MustCompile(`(?m)^(CLIENT_RANDOM|CLIENT_TRAFFIC_SECRET_0|CLIENT_HANDSHAKE_TRAFFIC_SECRET) [0-9a-f]{64} [0-9a-f]+$`)

	for _, tt := range []struct {
		name string
		env  []string
		args []string
	}{
		{"mqtts", nil, []string{"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS)}},
		{"wss", awsEnv("AKIAE2EKEYLOG", "keylogSecret", ""), []string{"--auth", "sigv4", "--region", "us-east-1", "--ca-file", w.caFile, "--endpoint", "wss://127.0.0.1:" + w.port(broker.WSS)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old, _ := os.ReadFile(keylog)
			p := run(t, append(append([]string{}, env...), tt.env...), 0, append([]string{"pub", "-t", "test/topic", "-q", "1", "-m", "x", "--client-id", "test-keylog-" + tt.name}, tt.args...)...)
			stderr := p.stderr.String()
			warning := "iotctl: warning: TLS session keys are being written to " + keylog
			if n := strings.Count(stderr, warning); n != 1 {
				t.Errorf("the warning appears %d times, want once:\n%s", n, stderr)
			}
			data, err := os.ReadFile(keylog)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), string(old)) {
				t.Errorf("the key log was not appended to:\n%s", data)
			}
			added := string(data[len(old):])
			if n := len(secret.FindAllString(added, -1)); n == 0 {
				t.Errorf("no CLIENT_RANDOM / CLIENT_TRAFFIC_SECRET_0 line written:\n%s", added)
			}
			if !strings.Contains(added, "CLIENT_TRAFFIC_SECRET_0 ") && !strings.Contains(added, "CLIENT_RANDOM ") {
				t.Errorf("no traffic secret:\n%s", added)
			}
		})
	}
	if data, _ := os.ReadFile(keylog); !strings.HasPrefix(string(data), before) {
		t.Errorf("the earlier content is gone:\n%s", data)
	}

	t.Run("created 0600", func(t *testing.T) {
		fresh := filepath.Join(t.TempDir(), "new.log")
		run(t, []string{"SSLKEYLOGFILE=" + fresh}, 0, "pub", "-t", "test/topic", "-q", "1", "-m", "x", "--client-id", "test-keylog-new",
			"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS))
		fi, err := os.Stat(fresh)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
		}
	})
	t.Run("unwritable", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "no", "such", "dir", "keys.log")
		p := run(t, []string{"SSLKEYLOGFILE=" + bad}, 0, "pub", "-t", "test/topic", "-q", "1", "-m", "x", "--client-id", "test-keylog-bad",
			"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS))
		if n := strings.Count(p.stderr.String(), "iotctl: warning: SSLKEYLOGFILE="+bad+": "); n != 1 {
			t.Errorf("want one warning that the keys are not written:\n%s", p.stderr.String())
		}
	})
	t.Run("unset: no warning", func(t *testing.T) {
		p := run(t, nil, 0, "pub", "-t", "test/topic", "-q", "1", "-m", "x", "--client-id", "test-keylog-off",
			"--auth", "mtls", "--cert", cert, "--key", key, "--ca-file", w.caFile, "--endpoint", "127.0.0.1", "--port", w.port(broker.MQTTS))
		if strings.Contains(p.stderr.String(), "TLS session keys") {
			t.Errorf("warned without SSLKEYLOGFILE:\n%s", p.stderr.String())
		}
	})
}
