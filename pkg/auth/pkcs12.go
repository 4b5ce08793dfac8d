package auth

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"os"

	"software.sslmate.com/src/go-pkcs12"

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
	chain, key, err := loadPKCS12(s.PKCS12File, s.PKCS12Password)
	if err != nil {
		return nil, err
	}
	return newCertProvider("pkcs12", "PKCS#12 file "+s.PKCS12File, s, tlsCertificate(chain, key))
}

// loadPKCS12 returns the certificate that belongs to the key first, then
// the others, whatever their order in the file.
func loadPKCS12(path, password string) ([]*x509.Certificate, crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, errs.Usagef("PKCS#12 file %s: %v: check --pkcs12-file", path, unwrapPathErr(err))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errs.Usagef("PKCS#12 file %s: the file is empty: check --pkcs12-file", path)
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return nil, nil, errs.Usagef("PKCS#12 file %s is a PEM file, not PKCS#12: give PEM files with --cert and --key instead", path)
	}
	k, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		var notImpl pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			if password == "" {
				return nil, nil, errs.Usagef("PKCS#12 file %s is protected by a password: give it with --pkcs12-password or IOTCTL_PKCS12_PASSWORD", path)
			}
			return nil, nil, errs.Usagef("wrong PKCS#12 password for %s: check --pkcs12-password or IOTCTL_PKCS12_PASSWORD", path)
		case errors.As(err, &notImpl):
			return nil, nil, errs.Usagef("PKCS#12 file %s: %v: re-export it, e.g. openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256", path, err)
		}
		return nil, nil, errs.Usagef("PKCS#12 file %s cannot be read: %v: give a .p12/.pfx file holding one private key and its certificate", path, err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errs.Usagef("PKCS#12 file %s: its %T private key cannot sign", path, k)
	}
	all := append([]*x509.Certificate{leaf}, cas...)
	for i, c := range all {
		if publicKeysEqual(c.PublicKey, key.Public()) {
			all[0], all[i] = all[i], all[0]
			return all, key, nil
		}
	}
	return nil, nil, errs.Usagef("PKCS#12 file %s: none of its %d certificates matches its private key: re-export the client certificate with its key", path, len(all))
}
