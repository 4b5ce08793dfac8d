package auth

import (
	"fmt"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
)

// StorePath names a certificate in a Windows system certificate store, as
// the AWS SDK spells it: CurrentUser\MY\<SHA-1 thumbprint>.
type StorePath struct {
	// Location is the canonical system store location, e.g. "CurrentUser".
	Location string
	// Store is the store name, e.g. "MY"; for the Services and Users
	// locations it is "<service name or user SID>\<store>".
	Store string
	// Thumbprint is the certificate's SHA-1 hash: 40 upper-case hex digits.
	Thumbprint string
}

func (p StorePath) String() string { return p.Location + `\` + p.Store + `\` + p.Thumbprint }

// storeLocations are the system store locations CertOpenStore knows, in
// their canonical spelling.
var storeLocations = []string{
	"CurrentUser", "LocalMachine", "CurrentService", "Services", "Users",
	"CurrentUserGroupPolicy", "LocalMachineGroupPolicy", "LocalMachineEnterprise",
}

// ParseCertStorePath parses LOCATION\STORE\THUMBPRINT. The location is
// case-insensitive; PowerShell's Cert:\ prefix and forward slashes are
// accepted; spaces, colons and the invisible marks that Windows' certificate
// dialog copies along with a thumbprint are dropped from it.
func ParseCertStorePath(text string) (StorePath, error) {
	bad := func(format string, a ...any) (StorePath, error) {
		return StorePath{}, errs.Usagef(`invalid --cert-store "%s": %s: want LOCATION\STORE\THUMBPRINT, e.g. CurrentUser\MY\A11F8A9B5DF5B98BA3508FBCA575D09570E0D2C6`, text, fmt.Sprintf(format, a...))
	}
	t := strings.TrimSpace(text)
	if len(t) >= 5 && strings.EqualFold(t[:5], "cert:") {
		t = t[5:]
	}
	if t == "" {
		return bad("it is empty")
	}
	sep := `\`
	if !strings.Contains(t, sep) {
		sep = "/"
	}
	parts := strings.Split(strings.Trim(t, sep), sep)
	if len(parts) < 3 {
		return bad("it has %d part(s), not 3", len(parts))
	}
	loc := ""
	for _, l := range storeLocations {
		if strings.EqualFold(strings.TrimSpace(parts[0]), l) {
			loc = l
		}
	}
	if loc == "" {
		return bad("unknown store location %q (one of %s)", parts[0], strings.Join(storeLocations, ", "))
	}
	store := parts[1 : len(parts)-1]
	want := 1
	if loc == "Services" || loc == "Users" {
		want = 2 // Services\<service>\MY, Users\<SID>\MY
	}
	if len(store) != want {
		if want == 2 {
			return bad(`location %s needs a service name or user SID before the store: %s\<name>\MY\THUMBPRINT`, loc, loc)
		}
		return bad("the store name must be one part, e.g. MY, not %q", strings.Join(store, sep))
	}
	for i, p := range store {
		if store[i] = strings.TrimSpace(p); store[i] == "" {
			return bad("empty store name")
		}
	}
	thumb := strings.Map(func(r rune) rune {
		switch r {
		case ' ', ':', '\t', '\u200e', '\u200f', '\u202a', '\u202c', '\ufeff':
			return -1
		}
		return r
	}, parts[len(parts)-1])
	if len(thumb) != 40 || strings.Trim(strings.ToLower(thumb), "0123456789abcdef") != "" {
		return bad("the thumbprint \"%s\" is not 40 hex digits (the certificate's SHA-1 hash)", parts[len(parts)-1])
	}
	return StorePath{Location: loc, Store: strings.Join(store, `\`), Thumbprint: strings.ToUpper(thumb)}, nil
}
