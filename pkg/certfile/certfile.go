// Package certfile reads the files of the certificate auth methods: PEM
// certificates, PEM private keys (PKCS#1, PKCS#8, SEC1, legacy encrypted
// PEM) and PKCS#12 bundles. The auth methods and the offline checks of
// 'iotctl profile validate' both read them here, so a file one accepts the
// other cannot refuse; CheckFiles is validate's offline file check. Every
// problem with a file is an errs.Usage error that names the file and says
// what to do; none shows a password.
package certfile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/iotctl/iotctl/pkg/errs"
)

// Key is a private key read from a PEM file.
type Key struct {
	Signer crypto.Signer
	// Format is the encoding the key parsed as: PKCS#1, PKCS#8 or SEC1.
	Format string
	// Encrypted is true for a legacy encrypted PEM key, decrypted with
	// the password.
	Encrypted bool
}

// Read reads a file for one of the loaders; what names the file in
// messages ("key file") and flag the setting that gave it ("--key").
func Read(path, what, flag string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Usagef("%s %s: %v: check %s", what, path, UnwrapPathErr(err), flag)
	}
	return data, nil
}

// LoadChain reads a PEM certificate file: see ParseChain.
func LoadChain(path string) ([]*x509.Certificate, error) {
	data, err := Read(path, "certificate file", "--cert")
	if err != nil {
		return nil, err
	}
	return ParseChain(path, data)
}

// LoadKey reads a PEM private key file: see ParseKey.
func LoadKey(path, password string) (*Key, error) {
	data, err := Read(path, "key file", "--key")
	if err != nil {
		return nil, err
	}
	return ParseKey(path, data, password)
}

// LoadKeyPair reads a PEM certificate (the leaf first, then any
// intermediates) and its PEM private key, and checks they belong together.
// Validity dates are not checked: see CheckValidity.
func LoadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	chain, err := LoadChain(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := LoadKey(keyFile, password)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := MatchPair(chain, key.Signer, certFile, keyFile); err != nil {
		return tls.Certificate{}, err
	}
	return TLSCertificate(chain, key.Signer), nil
}

// MatchPair fails unless key is the private key of the chain's leaf.
func MatchPair(chain []*x509.Certificate, key crypto.Signer, certFile, keyFile string) error {
	if !PublicKeysEqual(chain[0].PublicKey, key.Public()) {
		return errs.Usagef("key file %s does not match the certificate in %s (%s): give the private key that belongs to this certificate", keyFile, certFile, Describe(chain[0]))
	}
	return nil
}

// pemBlocks decodes the PEM blocks of a file that must hold some.
func pemBlocks(path, what, flag string, data []byte) ([]*pem.Block, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errs.Usagef("%s %s: the file is empty: check %s", what, path, flag)
	}
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, errs.Usagef("%s %s: no PEM data in it (a DER or PKCS#12 file?): give a PEM file (-----BEGIN ...), e.g. converted with openssl x509 -inform der / openssl pkcs12, or use --auth pkcs12", what, path)
	}
	return blocks, nil
}

func isKeyBlock(typ string) bool {
	return typ == "PRIVATE KEY" || typ == "ENCRYPTED PRIVATE KEY" || strings.HasSuffix(typ, " PRIVATE KEY")
}

// ParseChain parses the certificates of a PEM file: the leaf first, then
// intermediates. Other PEM blocks are skipped; a file of keys only is an
// error.
func ParseChain(path string, data []byte) ([]*x509.Certificate, error) {
	blocks, err := pemBlocks(path, "certificate file", "--cert", data)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	var other []string
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			other = append(other, b.Type)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errs.Usagef("certificate file %s: PEM block %d is not a valid certificate: %v", path, i+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		if isKeyBlock(other[0]) {
			return nil, errs.Usagef("certificate file %s holds a private key (%s), not a certificate: were --cert and --key swapped?", path, other[0])
		}
		return nil, errs.Usagef("certificate file %s holds %s, not a CERTIFICATE: give the client certificate", path, other[0])
	}
	return chain, nil
}

// ParseKey parses the first private key of a PEM file: RSA or EC in
// PKCS#1, SEC1 or PKCS#8, or Ed25519; legacy encrypted PEM ("Proc-Type:
// 4,ENCRYPTED") is decrypted with password. Encrypted PKCS#8 is refused
// with a way to convert it.
func ParseKey(path string, data []byte, password string) (*Key, error) {
	blocks, err := pemBlocks(path, "key file", "--key", data)
	if err != nil {
		return nil, err
	}
	var block *pem.Block
	var other []string
	for _, b := range blocks {
		if isKeyBlock(b.Type) {
			block = b
			break
		}
		other = append(other, b.Type) // e.g. the EC PARAMETERS of openssl ecparam
	}
	if block == nil {
		if other[0] == "CERTIFICATE" {
			return nil, errs.Usagef("key file %s holds a certificate, not a private key: were --cert and --key swapped?", path)
		}
		return nil, errs.Usagef("key file %s holds %s, not a private key: give the client's private key", path, strings.Join(other, ", "))
	}

	der := block.Bytes
	decrypted := false
	switch {
	case block.Type == "ENCRYPTED PRIVATE KEY":
		// Neither the standard library nor golang.org/x/crypto decrypts
		// PKCS#8 (PBES2); go-pkcs12 does, but only inside a PKCS#12 file.
		return nil, errs.Usagef("key file %s is an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY), which iotctl cannot decrypt: "+
			"bundle it with its certificate into a PKCS#12 file (openssl pkcs12 -export -in CERT -inkey %s -out client.p12) and use --pkcs12-file, "+
			"or convert it to legacy encrypted PEM (openssl pkey -in %s -aes256 -traditional -out key.pem)", path, path, path)
	// Legacy encrypted PEM is deprecated (unauthenticated), but it is what
	// openssl -traditional and many device toolchains still write.
	case x509.IsEncryptedPEMBlock(block): //nolint:staticcheck
		if password == "" {
			return nil, errs.Usagef("key file %s is encrypted: give its password with --key-password or IOTCTL_KEY_PASSWORD", path)
		}
		der, err = x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck
		if err != nil {
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, wrongKeyPassword(path)
			}
			return nil, errs.Usagef("key file %s: cannot decrypt it: %v", path, err)
		}
		decrypted = true
	}

	key, format, err := parsePrivateKey(der)
	if err != nil {
		if decrypted {
			// A wrong password mostly shows as garbage after decryption.
			return nil, wrongKeyPassword(path)
		}
		return nil, errs.Usagef("key file %s: %s block is not a private key iotctl can read (RSA, EC or Ed25519 in PKCS#1, SEC1 or PKCS#8): %v", path, block.Type, err)
	}
	return &Key{Signer: key, Format: format, Encrypted: decrypted}, nil
}

func wrongKeyPassword(path string) error {
	return errs.Usagef("wrong password for key file %s: check --key-password or IOTCTL_KEY_PASSWORD", path)
}

// parsePrivateKey tries PKCS#1, PKCS#8 and SEC1 whatever the PEM type says,
// as crypto/tls does: files in the wild mislabel them.
func parsePrivateKey(der []byte) (crypto.Signer, string, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, "PKCS#1", nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, "", fmt.Errorf("a %T cannot sign", k)
		}
		return s, "PKCS#8", nil
	}
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, "", errors.New("not PKCS#1, PKCS#8 or SEC1")
	}
	return k, "SEC1", nil
}

// LoadPKCS12 reads a .p12/.pfx file: see ParsePKCS12.
func LoadPKCS12(path, password string) ([]*x509.Certificate, crypto.Signer, error) {
	data, err := Read(path, "PKCS#12 file", "--pkcs12-file")
	if err != nil {
		return nil, nil, err
	}
	return ParsePKCS12(path, data, password)
}

// ParsePKCS12 returns the certificate that belongs to the key first, then
// the others, whatever their order in the file.
func ParsePKCS12(path string, data []byte, password string) ([]*x509.Certificate, crypto.Signer, error) {
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
		if PublicKeysEqual(c.PublicKey, key.Public()) {
			all[0], all[i] = all[i], all[0]
			return all, key, nil
		}
	}
	return nil, nil, errs.Usagef("PKCS#12 file %s: none of its %d certificates matches its private key: re-export the client certificate with its key", path, len(all))
}

// LoadCAPool reads PEM CA certificates into a pool: see ParseCAs.
func LoadCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Usagef("CA file %s: %v", path, UnwrapPathErr(err))
	}
	cas, err := ParseCAs(path, data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool, nil
}

// ParseCAs parses the certificates of a PEM CA bundle as
// x509.CertPool.AppendCertsFromPEM does: blocks that are not plain
// certificates, or do not parse, are skipped; a bundle with none is an
// error.
func ParseCAs(path string, data []byte) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			cas = append(cas, c)
		}
	}
	if len(cas) == 0 {
		return nil, errs.Usagef("CA file %s: no PEM certificate in it: give --ca-file a PEM file (-----BEGIN CERTIFICATE-----), e.g. AmazonRootCA1.pem", path)
	}
	return cas, nil
}

// CheckValidity fails with errs.Usage when now is outside the certificate's
// validity period; source names where the certificate came from.
func CheckValidity(c *x509.Certificate, source string, now time.Time) error {
	const layout = "2006-01-02 15:04:05 MST"
	from, until := c.NotBefore.UTC().Format(layout), c.NotAfter.UTC().Format(layout)
	switch {
	case now.Before(c.NotBefore):
		return errs.Usagef("%s: certificate %s is not valid yet: valid from %s until %s: check the system clock, or wait", source, Describe(c), from, until)
	case now.After(c.NotAfter):
		return errs.Usagef("%s: certificate %s expired on %s (valid from %s): use a current certificate", source, Describe(c), until, from)
	}
	return nil
}

// TLSCertificate is the chain and its key as crypto/tls sends them.
func TLSCertificate(chain []*x509.Certificate, key crypto.Signer) tls.Certificate {
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// Describe names a certificate in messages.
func Describe(c *x509.Certificate) string {
	if cn := c.Subject.CommonName; cn != "" {
		return fmt.Sprintf("%q", "CN="+cn)
	}
	return fmt.Sprintf("with serial %s", c.SerialNumber)
}

// KeyKind names a key's algorithm and size: RSA 2048, ECDSA P-256, Ed25519.
func KeyKind(key crypto.Signer) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", key)
}

// PublicKeysEqual reports whether two public keys are the same.
func PublicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// UnwrapPathErr drops the operation and path of an *os.PathError, which
// messages name already.
func UnwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// AddCAPath adds the CA certificates of every PEM file in dir to pool
// (new when nil), as mosquitto's --capath reads a folder (its c_rehash
// links included). Files that hold no certificate are skipped; a folder
// with none is an error.
func AddCAPath(pool *x509.CertPool, dir string) (*x509.CertPool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errs.Usagef("CA path %s: %v", dir, UnwrapPathErr(err))
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // follows c_rehash's links
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 16<<20 {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		cas, err := ParseCAs(path, data)
		if err != nil {
			continue
		}
		for _, c := range cas {
			pool.AddCert(c)
		}
		n += len(cas)
	}
	if n == 0 {
		return nil, errs.Usagef("CA path %s: no PEM certificates in the folder: give a folder of CA files, or --ca-file", dir)
	}
	return pool, nil
}
