package auth

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/profile"
)

// baseTLS is the TLS config every method starts from: --ca-file (replacing
// the system roots), --insecure, --alpn and the SSLKEYLOGFILE key log. TLS
// 1.2 is the floor.
func baseTLS(s *profile.Settings) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.Insecure}
	if s.CAFile != "" {
		pool, err := LoadCAFile(s.CAFile)
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
