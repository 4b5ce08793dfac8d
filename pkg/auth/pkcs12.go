package auth

import (
	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["pkcs12"] = newPKCS12
}

// newPKCS12 reads a .p12/.pfx file on every OS (the AWS SDK does so on
// macOS only).
func newPKCS12(s *profile.Settings) (Provider, error) {
	if s.PKCS12File == "" {
		return nil, errs.Usagef("auth pkcs12 needs a PKCS#12 file: give --pkcs12-file (and its password with --pkcs12-password or IOTCTL_PKCS12_PASSWORD)")
	}
	chain, key, err := certfile.LoadPKCS12(s.PKCS12File, s.PKCS12Password)
	if err != nil {
		return nil, err
	}
	return newCertProvider("pkcs12", "PKCS#12 file "+s.PKCS12File, s, certfile.TLSCertificate(chain, key))
}
