package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// baseTLS is the TLS config every method starts from: --ca-file (replacing
// the system roots), --insecure and --alpn. TLS 1.2 is the floor.
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
	return cfg, nil
}

// LoadCAFile reads PEM CA certificates into a pool.
func LoadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Usagef("CA file %s: %v", path, unwrapPathErr(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errs.Usagef("CA file %s: no PEM certificate in it: give --ca-file a PEM file (-----BEGIN CERTIFICATE-----), e.g. AmazonRootCA1.pem", path)
	}
	return pool, nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%v", pe.Err)
	}
	return err
}
