package profile

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Status is the outcome of one check.
type Status string

const (
	CheckOK   Status = "ok"
	CheckWarn Status = "warn"
	CheckFail Status = "fail"
)

// Check is one line of 'iotctl profile validate'.
type Check struct {
	Setting string `json:"setting"`
	File    string `json:"file,omitempty"`
	Status  Status `json:"status"`
	Detail  string `json:"detail"`
}

// ExpiryWarning is how close to its end a certificate's validity must be
// for validate to warn.
const ExpiryWarning = 30 * 24 * time.Hour

// CheckFiles checks what can be checked offline: the endpoint parses, and
// every file a setting names exists and holds what the setting expects.
// It never prints secrets or file contents.
func CheckFiles(s *Settings, now time.Time) []Check {
	var out []Check
	if ep, err := ParseEndpoint(s.Endpoint); err != nil {
		out = append(out, Check{Setting: "endpoint", Status: CheckFail, Detail: err.Error()})
	} else {
		detail := "host " + ep.Host
		if ep.Port != 0 {
			detail += fmt.Sprintf(", port %d", ep.Port)
		}
		if ep.Scheme != "" {
			detail += ", scheme " + ep.Scheme
		}
		out = append(out, Check{Setting: "endpoint", Status: CheckOK, Detail: detail})
	}
	for _, d := range Defs {
		if !d.FileValue {
			continue
		}
		path := entryValue(s, d.Name)
		if path == "" {
			continue
		}
		c := Check{Setting: d.Name, File: path}
		data, err := os.ReadFile(path)
		if err != nil {
			c.Status, c.Detail = CheckFail, readError(err)
			out = append(out, c)
			continue
		}
		switch d.Name {
		case "cert":
			c.Status, c.Detail = checkCerts(data, now, true)
		case "ca-file", "proxy-ca-file":
			c.Status, c.Detail = checkCerts(data, now, false)
		case "key":
			c.Status, c.Detail = checkKey(data, s.KeyPassword != "")
		case "pkcs12-file":
			c.Status, c.Detail = checkPKCS12(data, s.PKCS12Password, now)
		case "password-file":
			c.Status, c.Detail = CheckOK, fmt.Sprintf("%d bytes", len(data))
			if len(strings.TrimSpace(string(data))) == 0 {
				c.Status, c.Detail = CheckFail, "the file is empty"
			}
		default:
			c.Status, c.Detail = CheckOK, fmt.Sprintf("exists (%d bytes)", len(data))
		}
		if secretFile(d.Name) && c.Status == CheckOK {
			if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
				c.Status = CheckWarn
				c.Detail += fmt.Sprintf("; readable by others (mode %04o): run chmod 600 %s", fi.Mode().Perm(), path)
			}
		}
		out = append(out, c)
	}
	if s.Cert != "" && s.Key != "" {
		if c, ok := checkPair(s.Cert, s.Key); ok {
			out = append(out, c)
		}
	}
	return out
}

func secretFile(name string) bool {
	return name == "key" || name == "password-file" || name == "pkcs12-file"
}

func entryValue(s *Settings, name string) string {
	for _, e := range s.Entries {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func readError(err error) string {
	if os.IsNotExist(err) {
		return "no such file"
	}
	if os.IsPermission(err) {
		return "permission denied"
	}
	return err.Error()
}

// checkCerts parses PEM certificates. For a client certificate (leaf) the
// first one must be valid now; for a CA bundle, at least one.
func checkCerts(data []byte, now time.Time, leaf bool) (Status, string) {
	certs, err := parseCerts(data)
	if err != nil {
		return CheckFail, err.Error()
	}
	if leaf {
		c := certs[0]
		st, validity := validity(c, now)
		detail := fmt.Sprintf("%s, %s", subject(c), validity)
		if len(certs) > 1 {
			detail += fmt.Sprintf(" (+%d chain certificates)", len(certs)-1)
		}
		return st, detail
	}
	st, expired, soon := CheckOK, 0, 0
	first := ""
	for _, c := range certs {
		switch s, v := validity(c, now); s {
		case CheckFail:
			expired++
			if first == "" {
				first = subject(c) + ": " + v
			}
		case CheckWarn:
			soon++
			if first == "" {
				first = subject(c) + ": " + v
			}
		}
	}
	detail := fmt.Sprintf("%d CA certificate(s)", len(certs))
	switch {
	case expired == len(certs):
		st = CheckFail
		detail += ", none valid now: " + first
	case expired > 0 || soon > 0:
		st = CheckWarn
		detail += fmt.Sprintf(", %d not valid now, %d expiring within 30 days: %s", expired, soon, first)
	default:
		detail += ", " + subject(certs[0])
		if len(certs) > 1 {
			detail += ", …"
		}
	}
	return st, detail
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bad certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate found (want -----BEGIN CERTIFICATE-----)")
	}
	return certs, nil
}

func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return c.Subject.String()
}

func validity(c *x509.Certificate, now time.Time) (Status, string) {
	const day = 24 * time.Hour
	switch {
	case now.Before(c.NotBefore):
		return CheckFail, "not valid before " + c.NotBefore.UTC().Format(time.RFC3339)
	case now.After(c.NotAfter):
		return CheckFail, "expired " + c.NotAfter.UTC().Format(time.RFC3339)
	}
	left := c.NotAfter.Sub(now)
	text := fmt.Sprintf("valid %s to %s", c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format(time.RFC3339))
	if left < ExpiryWarning {
		return CheckWarn, fmt.Sprintf("%s: expires in %d days", text, int(left/day))
	}
	return CheckOK, fmt.Sprintf("%s (%d days left)", text, int(left/day))
}

// checkKey recognises a PEM private key in any of the usual encodings.
func checkKey(data []byte, havePassword bool) (Status, string) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return CheckFail, "no PEM private key found (want PKCS#1, PKCS#8 or SEC1 PEM)"
		}
		var format string
		var parse func([]byte) (any, error)
		switch b.Type {
		case "RSA PRIVATE KEY":
			format = "PKCS#1"
			parse = func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) }
		case "EC PRIVATE KEY":
			format = "SEC1"
			parse = func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) }
		case "PRIVATE KEY":
			format = "PKCS#8"
			parse = x509.ParsePKCS8PrivateKey
		case "ENCRYPTED PRIVATE KEY":
			return encrypted("PKCS#8", havePassword)
		default:
			continue
		}
		if _, ok := b.Headers["DEK-Info"]; ok || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return encrypted(format+", legacy PEM encryption", havePassword)
		}
		key, err := parse(b.Bytes)
		if err != nil {
			return CheckFail, fmt.Sprintf("bad %s private key: %v", format, err)
		}
		return CheckOK, fmt.Sprintf("%s private key (%s)", keyKind(key), format)
	}
}

func encrypted(format string, havePassword bool) (Status, string) {
	if havePassword {
		return CheckOK, "encrypted private key (" + format + "); key-password is set"
	}
	return CheckWarn, "encrypted private key (" + format + "); set key-password (or IOTCTL_KEY_PASSWORD)"
}

func keyKind(key any) string {
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

// checkPair reports whether cert and key belong together; ok is false when
// that cannot be told offline (encrypted or unreadable key).
func checkPair(certPath, keyPath string) (Check, bool) {
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 != nil || err2 != nil {
		return Check{}, false
	}
	if st, _ := checkKey(keyPEM, false); st != CheckOK {
		return Check{}, false
	}
	if _, err := parseCerts(certPEM); err != nil {
		return Check{}, false
	}
	c := Check{Setting: "cert+key", Status: CheckOK, Detail: "the key matches the certificate"}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		c.Status, c.Detail = CheckFail, "the key does not match the certificate: "+err.Error()
	}
	return c, true
}

func checkPKCS12(data []byte, password string, now time.Time) (Status, string) {
	_, cert, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		hint := ""
		if password == "" {
			hint = " (no pkcs12-password given: set IOTCTL_PKCS12_PASSWORD)"
		}
		return CheckFail, "cannot open PKCS#12: " + err.Error() + hint
	}
	st, v := validity(cert, now)
	detail := fmt.Sprintf("%s, %s", subject(cert), v)
	if len(cas) > 0 {
		detail += fmt.Sprintf(" (+%d CA certificates)", len(cas))
	}
	return st, detail
}
