package certfile

import (
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/iotctl/iotctl/pkg/profile"
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
func CheckFiles(s *profile.Settings, now time.Time) []Check {
	var out []Check
	if ep, err := profile.ParseEndpoint(s.Endpoint); err != nil {
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
	var pair pairFiles
	for _, d := range profile.Defs {
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
			c.Status, c.Detail = checkLeaf(path, data, now, &pair)
		case "ca-file", "proxy-ca-file":
			c.Status, c.Detail = checkCAs(path, data, now)
		case "key":
			c.Status, c.Detail = checkKey(path, data, s.KeyPassword, &pair)
		case "pkcs12-file":
			c.Status, c.Detail = checkPKCS12(path, data, s.PKCS12Password, now)
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
	if pair.chain != nil && pair.key != nil {
		c := Check{Setting: "cert+key", Status: CheckOK, Detail: "the key matches the certificate"}
		if err := MatchPair(pair.chain, pair.key.Signer, s.Cert, s.Key); err != nil {
			c.Status, c.Detail = CheckFail, err.Error()
		}
		out = append(out, c)
	}
	return out
}

func secretFile(name string) bool {
	return name == "key" || name == "password-file" || name == "pkcs12-file"
}

func entryValue(s *profile.Settings, name string) string {
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

// The checks below read the files with package certfile, as the auth
// methods do, so that validate fails exactly the files a connection would
// refuse; its warnings (a certificate expiring soon, a file others may
// read) never stop a connection.

// pairFiles are the cert and key files as the mtls method reads them, for
// the cert+key check.
type pairFiles struct {
	chain []*x509.Certificate
	key   *Key
}

// checkLeaf checks a client certificate file: its first certificate must
// be valid now.
func checkLeaf(path string, data []byte, now time.Time, pair *pairFiles) (Status, string) {
	certs, err := ParseChain(path, data)
	if err != nil {
		return CheckFail, err.Error()
	}
	pair.chain = certs
	c := certs[0]
	st, validity := validity(c, now)
	detail := fmt.Sprintf("%s, %s", subject(c), validity)
	if len(certs) > 1 {
		detail += fmt.Sprintf(" (+%d chain certificates)", len(certs)-1)
	}
	return st, detail
}

// checkCAs checks a CA bundle: at least one certificate valid now.
func checkCAs(path string, data []byte, now time.Time) (Status, string) {
	certs, err := ParseCAs(path, data)
	if err != nil {
		return CheckFail, err.Error()
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

// checkKey reads the private key as the mtls method does, decrypting it
// with key-password.
func checkKey(path string, data []byte, password string, pair *pairFiles) (Status, string) {
	k, err := ParseKey(path, data, password)
	if err != nil {
		return CheckFail, err.Error()
	}
	pair.key = k
	format := k.Format
	if k.Encrypted {
		format += ", legacy PEM encryption, key-password decrypts it"
	}
	return CheckOK, fmt.Sprintf("%s private key (%s)", KeyKind(k.Signer), format)
}

// checkPKCS12 opens the bundle as the pkcs12 method does.
func checkPKCS12(path string, data []byte, password string, now time.Time) (Status, string) {
	chain, _, err := ParsePKCS12(path, data, password)
	if err != nil {
		return CheckFail, err.Error()
	}
	st, v := validity(chain[0], now)
	detail := fmt.Sprintf("%s, %s", subject(chain[0]), v)
	if len(chain) > 1 {
		detail += fmt.Sprintf(" (+%d CA certificates)", len(chain)-1)
	}
	return st, detail
}
