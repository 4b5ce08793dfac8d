//go:build windows

package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"sync"
	"unsafe"

	"github.com/google/certtostore"
	"golang.org/x/sys/windows"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["winstore"] = newWinStore
}

// Every location of ParseCertStorePath. certtostore itself opens only
// CurrentUser and LocalMachine MY by issuer, so the store is opened and the
// certificate found by thumbprint with CertOpenStore and
// CertFindCertificateInStore; certtostore provides the private key
// (CryptAcquireCertificatePrivateKey) as a crypto.Signer with RSA-PSS.
var storeLocationFlags = map[string]uint32{
	"CurrentUser":             windows.CERT_SYSTEM_STORE_CURRENT_USER,
	"LocalMachine":            windows.CERT_SYSTEM_STORE_LOCAL_MACHINE,
	"CurrentService":          windows.CERT_SYSTEM_STORE_CURRENT_SERVICE,
	"Services":                windows.CERT_SYSTEM_STORE_SERVICES,
	"Users":                   windows.CERT_SYSTEM_STORE_USERS,
	"CurrentUserGroupPolicy":  windows.CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY,
	"LocalMachineGroupPolicy": windows.CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY,
	"LocalMachineEnterprise":  windows.CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE,
}

// winstoreProvider keeps the certificate context open: the key handle is
// cached in it, so it must live as long as the key signs.
type winstoreProvider struct {
	*certProvider
	store     windows.Handle
	ctx       *windows.CertContext
	wcs       *certtostore.WinCertStore
	closeOnce sync.Once
}

// Close (io.Closer) releases the store; connections made afterwards cannot sign.
func (p *winstoreProvider) Close() error {
	p.closeOnce.Do(func() {
		_ = windows.CertFreeCertificateContext(p.ctx)
		_ = windows.CertCloseStore(p.store, 0)
		_ = p.wcs.Close()
	})
	return nil
}

func newWinStore(s *profile.Settings) (Provider, error) {
	if s.CertStore == "" {
		return nil, errs.Usagef(`auth winstore needs the certificate's store path: give --cert-store, e.g. CurrentUser\MY\A11F8A9B5DF5B98BA3508FBCA575D09570E0D2C6`)
	}
	path, err := ParseCertStorePath(s.CertStore)
	if err != nil {
		return nil, err
	}
	flags, ok := storeLocationFlags[path.Location]
	if !ok {
		return nil, errs.Usagef("certificate store location %s is not supported", path.Location)
	}
	name, err := windows.UTF16PtrFromString(path.Store)
	if err != nil {
		return nil, errs.Usagef(`invalid --cert-store "%s": %v`, s.CertStore, err)
	}
	store, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM, 0, 0,
		flags|windows.CERT_STORE_READONLY_FLAG|windows.CERT_STORE_OPEN_EXISTING_FLAG, uintptr(unsafe.Pointer(name)))
	if err != nil {
		return nil, errs.Usagef(`certificate store %s\%s cannot be opened: %v: check --cert-store (LocalMachine stores may need an elevated prompt)`, path.Location, path.Store, err)
	}
	p, err := findInStore(s, path, store)
	if err != nil {
		_ = windows.CertCloseStore(store, 0)
		return nil, err
	}
	return p, nil
}

func findInStore(s *profile.Settings, path StorePath, store windows.Handle) (*winstoreProvider, error) {
	hash, _ := hex.DecodeString(path.Thumbprint) // ParseCertStorePath checked it
	blob := windows.CryptHashBlob{Size: uint32(len(hash)), Data: &hash[0]}
	ctx, err := windows.CertFindCertificateInStore(store, windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, 0,
		windows.CERT_FIND_SHA1_HASH, unsafe.Pointer(&blob), nil)
	if ctx == nil {
		return nil, errs.Usagef(`no certificate with thumbprint %s in store %s\%s (%v): list the store's certificates with PowerShell: Get-ChildItem Cert:\%s\%s`,
			path.Thumbprint, path.Location, path.Store, err, path.Location, path.Store)
	}
	free := true
	defer func() {
		if free {
			_ = windows.CertFreeCertificateContext(ctx)
		}
	}()
	leaf, err := x509.ParseCertificate(bytes.Clone(unsafe.Slice(ctx.EncodedCert, ctx.Length)))
	if err != nil {
		return nil, errs.Usagef("certificate %s: cannot parse it: %v", path, err)
	}
	user := path.Location != "LocalMachine" && path.Location != "LocalMachineGroupPolicy" && path.Location != "LocalMachineEnterprise"
	wcs, err := certtostore.OpenWinCertStoreWithOptions(certtostore.WinCertStoreOptions{
		Provider: certtostore.ProviderMSSoftware, CurrentUser: user, StoreFlags: certtostore.CertStoreReadOnly,
	})
	if err != nil {
		return nil, errs.Usagef("certificate %s: opening the key storage provider: %v", path, err)
	}
	key, err := wcs.CertKey(ctx)
	if err != nil || key == nil {
		_ = wcs.Close()
		return nil, errs.Usagef("certificate %s has no private key iotctl can use (%v): import the certificate with its private key as a CNG key (Microsoft Software or Platform Key Storage Provider), and check that this user may read it", path, err)
	}
	if !certfile.PublicKeysEqual(leaf.PublicKey, key.Public()) {
		_ = wcs.Close()
		return nil, errs.Usagef("certificate %s: its private key does not match it: re-import the certificate with its key", path)
	}
	cert := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	if ec, ok := leaf.PublicKey.(*ecdsa.PublicKey); ok {
		// certtostore sizes ECDSA r and s by the digest: keep each curve to
		// its own hash so they agree.
		switch ec.Curve {
		case elliptic.P256():
			cert.SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}
		case elliptic.P384():
			cert.SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.ECDSAWithP384AndSHA384}
		case elliptic.P521():
			_ = wcs.Close()
			return nil, errs.Usagef("certificate %s has a P-521 key, which the Windows store signer cannot use for TLS: use a P-256, P-384 or RSA key", path)
		}
	}
	cp, err := newCertProvider("winstore", "certificate "+path.String(), s, cert)
	if err != nil {
		_ = wcs.Close()
		return nil, err
	}
	free = false
	return &winstoreProvider{certProvider: cp, store: store, ctx: ctx, wcs: wcs}, nil
}
