package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/session/proxy"
)

// awsHTTPClient is the HTTP client of the AWS calls (STS, Cognito, and
// those of the SDK's credential chain: SSO, AssumeRole, web identity).
// They follow the proxy rule MQTT connections follow (proxy.Rule, asked
// for each connection's host and port, TLS or not): --proxy and --no-proxy
// apply to them, and so do ALL_PROXY and socks5://, which the SDK's own
// client ignores. They dial through the proxy package as MQTT does: a
// CONNECT tunnel through an HTTP proxy (plain http:// endpoints of a
// local emulator too), or SOCKS5.
//
// It stays an *awshttp.BuildableClient, which the SDK's configuration
// needs to add AWS_CA_BUNDLE.
func awsHTTPClient(s *profile.Settings) (aws.HTTPClient, error) {
	rule, err := proxy.FromSettings(s, os.Getenv)
	if err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if s.ProxyCAFile != "" && rule.Active() {
		if roots, err = LoadCAFile(s.ProxyCAFile); err != nil {
			return nil, err
		}
	}
	dial := func(ctx context.Context, secure bool, addr string) (net.Conn, error) {
		c, err := rule.For(secure, addr)
		if err != nil {
			return nil, err
		}
		if c.URL == nil {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
		return proxy.Dial(ctx, proxy.Config{URL: c.URL, RootCAs: roots, From: c.From, ClientFirst: true}, addr)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		// The rule decides, not HTTP_PROXY/HTTPS_PROXY as net/http reads
		// them; net/http sees direct connections only.
		t.Proxy = nil
		if w, _, _ := keyLog(); w != nil { // SSLKEYLOGFILE
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			t.TLSClientConfig.KeyLogWriter = w
		}
		t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dial(ctx, false, addr)
		}
		t.DialTLSContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
			conn, err := dial(ctx, true, addr)
			if err != nil {
				return nil, err
			}
			// t.TLSClientConfig as the SDK left it (AWS_CA_BUNDLE added).
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if t.TLSClientConfig != nil {
				cfg = t.TLSClientConfig.Clone()
			}
			if cfg.ServerName, _, err = net.SplitHostPort(addr); err != nil {
				conn.Close()
				return nil, err
			}
			cfg.NextProtos = []string{"http/1.1"}
			tc := tls.Client(conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		}
	}), nil
}
