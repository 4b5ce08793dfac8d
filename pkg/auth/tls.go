package auth

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// baseTLS is the TLS config every method starts from: --ca-file (replacing
// the system roots) and --ca-path (added to it), --tls-version and
// --tls-max-version, --server-name, --insecure, --alpn and the
// SSLKEYLOGFILE key log. TLS 1.2 is the floor.
func baseTLS(s *profile.Settings) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.Insecure, ServerName: s.ServerName}
	if s.TLSVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	switch s.TLSMaxVersion {
	case "1.2":
		cfg.MaxVersion = tls.VersionTLS12
	case "1.3":
		cfg.MaxVersion = tls.VersionTLS13
	}
	if cfg.MaxVersion != 0 && cfg.MaxVersion < cfg.MinVersion {
		return nil, errs.Usagef("--tls-max-version %s is below --tls-version %s: give a maximum at or above the minimum", s.TLSMaxVersion, s.TLSVersion)
	}
	if s.CAFile != "" {
		pool, err := LoadCAFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.CAPath != "" {
		pool, err := certfile.AddCAPath(cfg.RootCAs, s.CAPath)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if len(s.ALPN) > 0 {
		cfg.NextProtos = append([]string(nil), s.ALPN...)
	}
	return withKeyLog(cfg), nil
}

// LoadCAFile reads PEM CA certificates into a pool.
func LoadCAFile(path string) (*x509.CertPool, error) {
	return certfile.LoadCAPool(path)
}

func unwrapPathErr(err error) error { return certfile.UnwrapPathErr(err) }
