package auth

import (
	"path/filepath"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/iotctl/iotctl/pkg/profile"
)

// TestKeyLog: SSLKEYLOGFILE reaches every TLS config (baseTLS) and the
// HTTP client of the STS and Cognito calls; unset, neither has a key log.
func TestKeyLog(t *testing.T) {
	t.Setenv(KeyLogEnv, "")
	hc, err := awsHTTPClient(&profile.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if tr := hc.(*awshttp.BuildableClient).GetTransport(); tr.TLSClientConfig != nil && tr.TLSClientConfig.KeyLogWriter != nil || KeyLogNotice() != "" {
		t.Fatal("key log without SSLKEYLOGFILE")
	}
	cfg, err := baseTLS(&profile.Settings{})
	if err != nil || cfg.KeyLogWriter != nil {
		t.Fatalf("baseTLS: %v, key log %v", err, cfg.KeyLogWriter)
	}
	path := filepath.Join(t.TempDir(), "keys.log")
	t.Setenv(KeyLogEnv, path)
	if cfg, err = baseTLS(&profile.Settings{}); err != nil || cfg.KeyLogWriter == nil {
		t.Fatalf("baseTLS: %v, no key log", err)
	}
	if hc, err = awsHTTPClient(&profile.Settings{}); err != nil {
		t.Fatal(err)
	}
	if tr := hc.(*awshttp.BuildableClient).GetTransport(); tr.TLSClientConfig == nil || tr.TLSClientConfig.KeyLogWriter == nil {
		t.Errorf("AWS HTTP transport: TLS %+v", tr.TLSClientConfig)
	}
	if n := KeyLogNotice(); !strings.Contains(n, "TLS session keys are being written to "+path) {
		t.Errorf("notice %q", n)
	}
}
