package whoami

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// printOffline prints the Profile and Identity sections, once.
func (r *state) printOffline() error {
	if r.printed {
		return nil
	}
	r.printed = true
	w := r.opts.IO.Out
	rep := r.rep
	name := rep.Profile
	if name == "" {
		name = "(none)"
	}
	rows := [][2]string{{"profile", name}}
	for _, s := range rep.Settings {
		rows = append(rows, [2]string{s.Name, fmt.Sprintf("%s (%s)", s.Value, s.Source)})
	}
	if err := section(w, "Profile", rows, false); err != nil {
		return err
	}
	if rep.AuthMethod == "" {
		return nil
	}
	return section(w, "Identity", r.identityRows(), true)
}

// printRest prints the Broker and Warnings sections.
func (r *state) printRest() error {
	w := r.opts.IO.Out
	rep := r.rep
	if r.provider != nil && rep.Endpoint != "" {
		rows := [][2]string{{"endpoint", rep.Endpoint}}
		if rep.Proxy != nil {
			rows = append(rows, [2]string{"proxy", rep.Proxy.text})
		}
		if rep.TLS != nil {
			rows = append(rows, rep.TLS.Rows()...)
		}
		switch {
		case rep.Connack != nil:
			rows = append(rows, rep.Connack.Rows()...)
		case r.opts.Offline:
			rows = append(rows, [2]string{"CONNACK", "not requested (--offline)"})
		case r.attempted:
			rows = append(rows, [2]string{"CONNACK", "none: the connection failed"})
		default:
			rows = append(rows, [2]string{"CONNACK", "not requested: the identity could not be established"})
		}
		if err := section(w, "Broker", rows, true); err != nil {
			return err
		}
	}
	if len(rep.Warnings) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nWarnings"); err != nil {
		return err
	}
	for _, m := range rep.Warnings {
		if _, err := fmt.Fprintf(w, "  %s\n", clean(m)); err != nil {
			return err
		}
	}
	return nil
}

func (r *state) identityRows() [][2]string {
	rep := r.rep
	method := rep.AuthMethod
	if rep.authInferred {
		method += " (inferred)"
	}
	rows := [][2]string{{"auth method", method}}
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, [2]string{k, v})
		}
	}
	id := rep.Identity
	if id == nil {
		return rows
	}
	add("certificate source", id.CertificateSource)
	add("subject", id.Subject)
	add("issuer", id.Issuer)
	add("SANs", strings.Join(id.SANs, ", "))
	add("serial", id.Serial)
	add("key type", id.KeyType)
	add("not before", id.NotBefore)
	if id.NotAfter != "" && id.DaysLeft != nil {
		left := fmt.Sprintf("%s (%s left)", id.NotAfter, daysText(*id.DaysLeft))
		if *id.DaysLeft < 0 {
			left = id.NotAfter + " (expired)"
		}
		add("not after", left)
	}
	add("certificate ID", id.CertificateID)

	add("PKCS#11 module", id.PKCS11Module)
	if id.PKCS11Slot != nil {
		add("PKCS#11 slot", strconv.FormatUint(uint64(*id.PKCS11Slot), 10))
	}
	add("token label", id.PKCS11TokenLabel)
	add("token serial", id.PKCS11TokenSerial)
	add("token model", strings.TrimSpace(id.PKCS11Manufacturer+" "+id.PKCS11Model))
	add("key label", id.PKCS11KeyLabel)
	add("key ID", id.PKCS11KeyID)

	add("cognito identity ID", id.CognitoIdentityID)
	add("cognito region", id.CognitoRegion)
	add("login providers", strings.Join(id.CognitoLoginProviders, ", "))
	add("cognito endpoint", id.CognitoEndpoint)
	if id.SigningRegionSource != "" {
		add("signing region", id.SigningRegion+" (from "+id.SigningRegionSource+")")
	} else {
		add("signing region", id.SigningRegion)
	}
	add("access key ID", id.AccessKeyID)
	add("credential source", id.CredentialSource)
	if id.TemporaryCredentials != nil {
		add("temporary credentials", yesNo(*id.TemporaryCredentials))
	}
	add("credentials expire", id.CredentialsExpire)
	if method := rep.AuthMethod; method == "cognito" && r.opts.Offline {
		add("credentials", "not requested (--offline)")
	}
	if a := rep.AWS; a != nil {
		add("AWS account", a.Account)
		add("AWS ARN", a.ARN)
		add("AWS user ID", a.UserID)
	} else if rep.AuthMethod == "sigv4" || rep.AuthMethod == "cognito" {
		if r.opts.Offline {
			add("AWS account", "not requested (--offline)")
		} else if r.provider != nil {
			add("AWS account", "unknown: STS GetCallerIdentity failed (see the warnings)")
		}
	}

	add("authorizer", id.AuthorizerName)
	add("token key name", id.TokenKeyName)
	if id.TokenSigned != nil {
		add("token signed", yesNo(*id.TokenSigned))
	}
	add("username", id.Username)
	add("password", id.Password)
	add("ALPN", strings.Join(id.ALPN, ", "))
	return rows
}

// keyWidth lines values up across sections: the longest fixed key,
// "subscription identifiers".
const keyWidth = 24

// section prints a title and aligned "key: value" lines; gap puts a blank
// line before the title.
func section(w io.Writer, title string, rows [][2]string, gap bool) error {
	width := keyWidth
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	var b strings.Builder
	if gap {
		b.WriteString("\n")
	}
	b.WriteString(title + "\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s %s\n", width+1, r[0]+":", clean(r[1]))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// clean keeps one value on one line: control characters are quoted.
func clean(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return strconv.Quote(v)
	}
	return v
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
