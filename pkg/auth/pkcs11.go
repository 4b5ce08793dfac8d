//go:build cgo

package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
	"golang.org/x/term"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["pkcs11"] = newPKCS11
}

// pkcs11Provider is the pkcs11 method. Its key stays on the token: every
// TLS handshake signs through the module. The module is loaded when the
// provider is built (never at start-up) and stays loaded until Close, or
// until the process ends when nobody calls Close, which is harmless: the
// OS unloads it and the token ends the session.
type pkcs11Provider struct {
	*certProvider
	key       *p11Key
	closeOnce sync.Once
}

// Close (io.Closer) ends the provider's session and unloads the module when
// no other provider uses it. Connections made afterwards cannot sign.
func (p *pkcs11Provider) Close() error {
	p.closeOnce.Do(func() {
		p.key.mu.Lock()
		_ = p.key.mod.ctx.CloseSession(p.key.session)
		p.key.closed = true
		p.key.mu.Unlock()
		p.key.mod.release()
	})
	return nil
}

// readPIN asks for the PIN on the terminal; ok is false when there is no
// terminal. A variable so that tests can stand in for a person.
var readPIN = readPINFromTerminal

func readPINFromTerminal(prompt string) (pin string, ok bool, err error) {
	// The controlling terminal first, as ssh and gpg do: stdin may carry data.
	if runtime.GOOS != "windows" {
		if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
			defer tty.Close()
			if term.IsTerminal(int(tty.Fd())) {
				fmt.Fprint(tty, prompt)
				b, err := term.ReadPassword(int(tty.Fd()))
				fmt.Fprintln(tty)
				return string(b), true, err
			}
		}
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprint(os.Stderr, prompt)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		return string(b), true, err
	}
	return "", false, nil
}

func newPKCS11(s *profile.Settings) (Provider, error) {
	if s.PKCS11Lib == "" {
		return nil, errs.Usagef("auth pkcs11 needs the token's PKCS#11 module: give --pkcs11-lib (e.g. /usr/lib/softhsm/libsofthsm2.so)")
	}
	var fileChain []*x509.Certificate
	if s.Cert != "" {
		var err error
		if fileChain, err = certfile.LoadChain(s.Cert); err != nil {
			return nil, err
		}
	}
	mod, err := openP11Module(s.PKCS11Lib)
	if err != nil {
		return nil, err
	}
	p, err := buildPKCS11(s, mod, fileChain)
	if err != nil {
		mod.release()
		return nil, err
	}
	return p, nil
}

func buildPKCS11(s *profile.Settings, mod *p11Module, fileChain []*x509.Certificate) (*pkcs11Provider, error) {
	slot, info, err := selectToken(mod, s)
	if err != nil {
		return nil, err
	}
	tok := tokenName(slot, info)
	sh, err := mod.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, errs.Usagef("%s: cannot open a session: %v", tok, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = mod.ctx.CloseSession(sh)
		}
	}()

	pin, err := login(mod, sh, info, tok, s.PKCS11PIN)
	if err != nil {
		return nil, err
	}
	key, err := findPrivateKey(mod, sh, tok, s.PKCS11KeyLabel)
	if err != nil {
		return nil, err
	}
	if key.alwaysAuth {
		key.pin = pin
	}

	// The certificate: from --cert, else the token's certificate with the
	// key's CKA_ID, else the token's only certificate.
	source := tok
	var candidates [][]*x509.Certificate
	if fileChain != nil {
		source = "certificate file " + s.Cert
		candidates = [][]*x509.Certificate{fileChain}
	} else {
		certs, err := tokenCertificates(mod, sh, key.id)
		if err != nil {
			return nil, errs.Usagef("%s: reading certificates: %v", tok, err)
		}
		if len(certs) == 0 {
			return nil, errs.Usagef("%s has no certificate for key %s: give it with --cert", tok, key.name())
		}
		for _, c := range certs {
			candidates = append(candidates, []*x509.Certificate{c})
		}
	}
	chain, err := key.matchCertificate(candidates)
	if err != nil {
		return nil, errs.Usagef("%s: key %s cannot sign: %v", tok, key.name(), err)
	}
	if chain == nil {
		if fileChain != nil {
			return nil, errs.Usagef("key %s on %s does not match the certificate in %s (%s): give the key's certificate, or the key's label with --pkcs11-key-label", key.name(), tok, s.Cert, certfile.Describe(fileChain[0]))
		}
		return nil, errs.Usagef("key %s on %s matches none of the token's certificates: give its certificate with --cert", key.name(), tok)
	}
	key.pub = chain[0].PublicKey

	cert := certfile.TLSCertificate(chain, key)
	noPSS := key.keyType == pkcs11.CKK_RSA && !hasMechanism(mod, slot, pkcs11.CKM_RSA_PKCS_PSS)
	if noPSS {
		// TLS 1.3 signs with RSA-PSS only: without it, stay on TLS 1.2.
		cert.SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512, tls.PKCS1WithSHA1}
	}
	cp, err := newCertProvider("pkcs11", source, s, cert)
	if err != nil {
		return nil, err
	}
	if noPSS {
		cp.dial.TLS.MaxVersion = tls.VersionTLS12
	}
	ok = true
	return &pkcs11Provider{certProvider: cp, key: key}, nil
}

// p11Modules shares one loaded module per path between providers: a
// module is initialized once per process.
var p11Modules = struct {
	sync.Mutex
	m map[string]*p11Module
}{m: map[string]*p11Module{}}

type p11Module struct {
	path     string
	ctx      *pkcs11.Ctx
	refs     int
	finalize bool // we called C_Initialize, so we call C_Finalize
}

func openP11Module(path string) (*p11Module, error) {
	p11Modules.Lock()
	defer p11Modules.Unlock()
	if m := p11Modules.m[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, errs.Usagef("PKCS#11 library %s: %v: check --pkcs11-lib", path, unwrapPathErr(err))
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, errs.Usagef("PKCS#11 library %s could not be loaded: it is not a shared library for this system, or one of its dependencies is missing: check --pkcs11-lib", path)
	}
	m := &p11Module{path: path, ctx: ctx, refs: 1, finalize: true}
	if err := ctx.Initialize(); err != nil {
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			ctx.Destroy()
			return nil, errs.Usagef("PKCS#11 library %s failed to initialize: %v: check the module's configuration (for SoftHSM, SOFTHSM2_CONF)", path, err)
		}
		m.finalize = false
	}
	p11Modules.m[path] = m
	return m, nil
}

func (m *p11Module) release() {
	p11Modules.Lock()
	defer p11Modules.Unlock()
	if m.refs--; m.refs > 0 {
		return
	}
	delete(p11Modules.m, m.path)
	if m.finalize {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

type p11Token struct {
	slot uint
	info pkcs11.TokenInfo
}

func tokenName(slot uint, info pkcs11.TokenInfo) string {
	if info.Label == "" {
		return fmt.Sprintf("PKCS#11 token in slot %d", slot)
	}
	return fmt.Sprintf("PKCS#11 token '%s'", info.Label)
}

func listTokens(toks []p11Token) string {
	if len(toks) == 0 {
		return "none"
	}
	var parts []string
	for _, t := range toks {
		parts = append(parts, fmt.Sprintf("'%s' (slot %d)", t.info.Label, t.slot))
	}
	return strings.Join(parts, ", ")
}

// selectToken picks the token by --pkcs11-slot and/or --pkcs11-token-label,
// or the only initialized token.
func selectToken(mod *p11Module, s *profile.Settings) (uint, pkcs11.TokenInfo, error) {
	slots, err := mod.ctx.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, errs.Usagef("PKCS#11 library %s: listing slots: %v", mod.path, err)
	}
	var all, ready []p11Token
	for _, slot := range slots {
		info, err := mod.ctx.GetTokenInfo(slot)
		if err != nil {
			continue
		}
		t := p11Token{slot, info}
		all = append(all, t)
		if info.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			ready = append(ready, t)
		}
	}
	label := s.PKCS11TokenLabel
	if s.PKCS11Slot != "" {
		id, err := strconv.ParseUint(strings.TrimSpace(s.PKCS11Slot), 0, 0)
		if err != nil {
			return 0, pkcs11.TokenInfo{}, errs.Usagef("invalid --pkcs11-slot %q: want a slot ID number (decimal or 0x hex): tokens: %s", s.PKCS11Slot, listTokens(ready))
		}
		for _, t := range all {
			if t.slot != uint(id) {
				continue
			}
			if t.info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
				return 0, pkcs11.TokenInfo{}, errs.Usagef("the token in PKCS#11 slot %d is not initialized: initialized tokens: %s", id, listTokens(ready))
			}
			if label != "" && t.info.Label != label {
				return 0, pkcs11.TokenInfo{}, errs.Usagef("PKCS#11 slot %d holds token '%s', not '%s': fix --pkcs11-slot or --pkcs11-token-label", id, t.info.Label, label)
			}
			return t.slot, t.info, nil
		}
		return 0, pkcs11.TokenInfo{}, errs.Usagef("no token in PKCS#11 slot %d of %s: tokens: %s", id, mod.path, listTokens(ready))
	}
	if label != "" {
		var found []p11Token
		for _, t := range ready {
			if t.info.Label == label {
				found = append(found, t)
			}
		}
		switch len(found) {
		case 0:
			return 0, pkcs11.TokenInfo{}, errs.Usagef("no PKCS#11 token labelled '%s' in %s: tokens: %s", label, mod.path, listTokens(ready))
		case 1:
			return found[0].slot, found[0].info, nil
		}
		return 0, pkcs11.TokenInfo{}, errs.Usagef("several PKCS#11 tokens are labelled '%s': choose one with --pkcs11-slot: %s", label, listTokens(found))
	}
	switch len(ready) {
	case 0:
		return 0, pkcs11.TokenInfo{}, errs.Usagef("PKCS#11 library %s has no initialized token: insert or initialize one", mod.path)
	case 1:
		return ready[0].slot, ready[0].info, nil
	}
	return 0, pkcs11.TokenInfo{}, errs.Usagef("PKCS#11 library %s has several tokens: choose one with --pkcs11-token-label or --pkcs11-slot: %s", mod.path, listTokens(ready))
}

// login logs the session in with the PIN from the settings, or asks for it
// on the terminal; it returns the PIN used.
func login(mod *p11Module, sh pkcs11.SessionHandle, info pkcs11.TokenInfo, tok, pin string) (string, error) {
	if info.Flags&pkcs11.CKF_LOGIN_REQUIRED == 0 {
		return "", nil
	}
	if info.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
		return "", pinLocked(tok)
	}
	// A token with its own PIN pad asks for the PIN itself.
	if pin == "" && info.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH == 0 {
		var ok bool
		var err error
		pin, ok, err = readPIN(fmt.Sprintf("PIN for %s: ", tok))
		if err != nil {
			return "", errs.Usagef("reading the PIN for %s: %v: give it with --pkcs11-pin or IOTCTL_PKCS11_PIN", tok, err)
		}
		if !ok {
			return "", errs.Usagef("%s needs its user PIN and there is no terminal to ask for it: give it with --pkcs11-pin or IOTCTL_PKCS11_PIN", tok)
		}
	}
	err := mod.ctx.Login(sh, pkcs11.CKU_USER, pin)
	var code pkcs11.Error
	errors.As(err, &code)
	switch {
	case err == nil, code == pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		return pin, nil
	case code == pkcs11.CKR_PIN_INCORRECT, code == pkcs11.CKR_PIN_INVALID, code == pkcs11.CKR_PIN_LEN_RANGE:
		return "", errs.Usagef("wrong PIN for %s: check --pkcs11-pin or IOTCTL_PKCS11_PIN (tokens lock after a few wrong PINs)", tok)
	case code == pkcs11.CKR_PIN_LOCKED:
		return "", pinLocked(tok)
	}
	return "", errs.Usagef("logging in to %s: %v", tok, err)
}

func pinLocked(tok string) error {
	return errs.Usagef("the user PIN of %s is locked after too many wrong PINs: unlock it with the SO PIN (e.g. pkcs11-tool --init-pin --login --login-type so)", tok)
}

func findObjects(mod *p11Module, sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := mod.ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := mod.ctx.FindObjects(sh, 64)
		if err != nil {
			_ = mod.ctx.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, mod.ctx.FindObjectsFinal(sh)
}

// attrs reads attributes; ones the object lacks come back empty.
func attrs(mod *p11Module, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, types ...uint) map[uint][]byte {
	out := map[uint][]byte{}
	for _, t := range types {
		a, err := mod.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(t, nil)})
		if err == nil && len(a) == 1 {
			out[t] = a[0].Value
		}
	}
	return out
}

// ulong decodes a CK_ULONG attribute, 4 or 8 bytes in native order.
func ulong(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

// findPrivateKey finds the key labelled label, or the token's only key.
func findPrivateKey(mod *p11Module, sh pkcs11.SessionHandle, tok, label string) (*p11Key, error) {
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if label != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	hs, err := findObjects(mod, sh, tmpl)
	if err != nil {
		return nil, errs.Usagef("%s: searching for private keys: %v", tok, err)
	}
	if len(hs) != 1 {
		known := describeKeys(mod, sh)
		switch {
		case len(hs) == 0 && label != "":
			return nil, errs.Usagef("%s has no private key labelled '%s': keys: %s", tok, label, known)
		case len(hs) == 0:
			return nil, errs.Usagef("%s has no private key (or the PIN does not give access to it): import or generate one", tok)
		case label != "":
			return nil, errs.Usagef("%s has %d private keys labelled '%s': relabel them so that the label is unique", tok, len(hs), label)
		}
		return nil, errs.Usagef("%s has several private keys: choose one with --pkcs11-key-label: keys: %s", tok, known)
	}
	a := attrs(mod, sh, hs[0], pkcs11.CKA_KEY_TYPE, pkcs11.CKA_ID, pkcs11.CKA_LABEL, pkcs11.CKA_ALWAYS_AUTHENTICATE)
	k := &p11Key{
		mod: mod, handle: hs[0], keyType: ulong(a[pkcs11.CKA_KEY_TYPE]),
		id: a[pkcs11.CKA_ID], label: string(a[pkcs11.CKA_LABEL]), tok: tok,
		alwaysAuth: len(a[pkcs11.CKA_ALWAYS_AUTHENTICATE]) == 1 && a[pkcs11.CKA_ALWAYS_AUTHENTICATE][0] != 0,
		mu:         &sync.Mutex{},
		session:    sh,
	}
	if k.keyType != pkcs11.CKK_RSA && k.keyType != pkcs11.CKK_EC {
		return nil, errs.Usagef("%s: key %s is neither RSA nor EC: TLS client authentication needs one of those", tok, k.name())
	}
	return k, nil
}

func describeKeys(mod *p11Module, sh pkcs11.SessionHandle) string {
	hs, err := findObjects(mod, sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
	if err != nil || len(hs) == 0 {
		return "none"
	}
	var parts []string
	for _, h := range hs {
		a := attrs(mod, sh, h, pkcs11.CKA_LABEL, pkcs11.CKA_ID)
		parts = append(parts, fmt.Sprintf("'%s' (id %s)", a[pkcs11.CKA_LABEL], hex.EncodeToString(a[pkcs11.CKA_ID])))
	}
	return strings.Join(parts, ", ")
}

// tokenCertificates returns the X.509 certificates with the key's CKA_ID,
// or all of them when none has it.
func tokenCertificates(mod *p11Module, sh pkcs11.SessionHandle, id []byte) ([]*x509.Certificate, error) {
	hs, err := findObjects(mod, sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	if err != nil {
		return nil, err
	}
	var withID, all []*x509.Certificate
	for _, h := range hs {
		a := attrs(mod, sh, h, pkcs11.CKA_VALUE, pkcs11.CKA_ID)
		c, err := x509.ParseCertificate(a[pkcs11.CKA_VALUE])
		if err != nil {
			continue
		}
		all = append(all, c)
		if len(id) > 0 && bytes.Equal(a[pkcs11.CKA_ID], id) {
			withID = append(withID, c)
		}
	}
	if len(withID) > 0 {
		return withID, nil
	}
	return all, nil
}

func hasMechanism(mod *p11Module, slot uint, mech uint) bool {
	ms, err := mod.ctx.GetMechanismList(slot)
	if err != nil {
		return true // unknown: let the handshake tell
	}
	for _, m := range ms {
		if m.Mechanism == mech {
			return true
		}
	}
	return false
}

// p11Key is a crypto.Signer whose private key stays on the token. A
// PKCS#11 session runs one operation at a time, so signing is serialized.
type p11Key struct {
	mod        *p11Module
	mu         *sync.Mutex // guards session and closed
	session    pkcs11.SessionHandle
	closed     bool
	handle     pkcs11.ObjectHandle
	keyType    uint
	id         []byte
	label      string
	tok        string
	alwaysAuth bool   // CKA_ALWAYS_AUTHENTICATE: the PIN again before each signature
	pin        string // only kept for alwaysAuth keys
	pub        crypto.PublicKey
}

func (k *p11Key) name() string {
	if k.label != "" {
		return "'" + k.label + "'"
	}
	return "with id " + hex.EncodeToString(k.id)
}

func (k *p11Key) Public() crypto.PublicKey { return k.pub }

// matchCertificate signs a test digest and returns the first chain whose
// leaf verifies it: the key and the certificate belong together.
func (k *p11Key) matchCertificate(chains [][]*x509.Certificate) ([]*x509.Certificate, error) {
	digest := sha256.Sum256([]byte("iotctl: does this key belong to this certificate?"))
	var rsaSig, ecSig []byte
	var err error
	for _, chain := range chains {
		switch pub := chain[0].PublicKey.(type) {
		case *rsa.PublicKey:
			if k.keyType != pkcs11.CKK_RSA {
				continue
			}
			if rsaSig == nil {
				if rsaSig, err = k.Sign(nil, digest[:], crypto.SHA256); err != nil {
					return nil, err
				}
			}
			if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], rsaSig) == nil {
				return chain, nil
			}
		case *ecdsa.PublicKey:
			if k.keyType != pkcs11.CKK_EC {
				continue
			}
			if ecSig == nil {
				if ecSig, err = k.Sign(nil, digest[:], crypto.SHA256); err != nil {
					return nil, err
				}
			}
			if ecdsa.VerifyASN1(pub, digest[:], ecSig) {
				return chain, nil
			}
		}
	}
	return nil, nil
}

// DigestInfo prefixes of PKCS#1 v1.5 signatures (RFC 8017 section 9.2).
var pkcs1Prefix = map[crypto.Hash][]byte{
	crypto.SHA1:    {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224:  {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256:  {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384:  {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512:  {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
	crypto.MD5SHA1: {}, // TLS 1.0/1.1 style: no DigestInfo
}

// PSS hash and MGF1 mechanisms.
var pssParams = map[crypto.Hash][2]uint{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA224: {pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// Sign signs digest: RSA PKCS#1 v1.5 or PSS (as opts says), or ECDSA with
// an ASN.1 signature, as crypto.Signer requires.
func (k *p11Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if h != 0 && h != crypto.MD5SHA1 && len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	switch k.keyType {
	case pkcs11.CKK_RSA:
		if o, ok := opts.(*rsa.PSSOptions); ok {
			p, ok := pssParams[h]
			if !ok {
				return nil, fmt.Errorf("pkcs11: RSA-PSS with %v is not supported", h)
			}
			salt := o.SaltLength
			switch salt {
			case rsa.PSSSaltLengthEqualsHash:
				salt = h.Size()
			case rsa.PSSSaltLengthAuto:
				pub, ok := k.pub.(*rsa.PublicKey)
				if !ok {
					return nil, errors.New("pkcs11: RSA-PSS needs the public key")
				}
				salt = (pub.N.BitLen()-1+7)/8 - 2 - h.Size()
			}
			if salt < 0 {
				return nil, fmt.Errorf("pkcs11: invalid PSS salt length %d", salt)
			}
			mech := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(p[0], p[1], uint(salt)))
			return k.sign(mech, digest)
		}
		prefix, ok := pkcs1Prefix[h]
		if !ok && h != 0 {
			return nil, fmt.Errorf("pkcs11: RSA PKCS#1 v1.5 with %v is not supported", h)
		}
		return k.sign(pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), append(append([]byte(nil), prefix...), digest...))
	case pkcs11.CKK_EC:
		raw, err := k.sign(pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest)
		if err != nil {
			return nil, err
		}
		if len(raw) == 0 || len(raw)%2 != 0 {
			return nil, fmt.Errorf("pkcs11: ECDSA signature of odd length %d", len(raw))
		}
		n := len(raw) / 2
		return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])})
	}
	return nil, fmt.Errorf("pkcs11: unsupported key type %d", k.keyType)
}

func (k *p11Key) sign(mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, fmt.Errorf("pkcs11: %s: the session is closed", k.tok)
	}
	ctx := k.mod.ctx
	if err := ctx.SignInit(k.session, []*pkcs11.Mechanism{mech}, k.handle); err != nil {
		return nil, fmt.Errorf("pkcs11: %s: key %s: C_SignInit: %w", k.tok, k.name(), err)
	}
	if k.alwaysAuth {
		if err := ctx.Login(k.session, pkcs11.CKU_CONTEXT_SPECIFIC, k.pin); err != nil {
			return nil, fmt.Errorf("pkcs11: %s: key %s: context-specific login: %w", k.tok, k.name(), err)
		}
	}
	sig, err := ctx.Sign(k.session, data)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %s: key %s: C_Sign: %w", k.tok, k.name(), err)
	}
	return sig, nil
}
