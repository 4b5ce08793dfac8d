package auth

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// constructors holds each method's constructor; each method's file adds
// itself in init, so adding a method touches only its own file.
var constructors = map[string]func(*profile.Settings) (Provider, error){}

// implies lists the settings that select a method when --auth is not given.
var implies = []struct {
	method   string
	settings []string
}{
	{"pkcs11", []string{"pkcs11-lib", "pkcs11-key-label", "pkcs11-token-label"}},
	{"pkcs12", []string{"pkcs12-file"}},
	{"winstore", []string{"cert-store"}},
	{"cognito", []string{"cognito-identity-id"}},
	{"custom", []string{"authorizer-name", "token-key-name", "token-value", "token-signature"}},
	{"sigv4", []string{"aws-profile"}},
	{"mtls", []string{"key"}},
}

// New returns the Provider for the settings: --auth when given, else the one
// method the settings imply; two implied methods are a usage error.
func New(s *profile.Settings) (Provider, error) {
	method := s.Auth
	if method == "" {
		var err error
		if method, err = Infer(s); err != nil {
			return nil, err
		}
	}
	c, ok := constructors[method]
	if !ok {
		return nil, errs.Usagef("auth method %q is not available in this build", method)
	}
	return c(s)
}

// Infer picks the method the settings imply.
func Infer(s *profile.Settings) (string, error) {
	found := map[string][]string{}
	for _, im := range implies {
		for _, name := range im.settings {
			if s.IsSet(name) {
				found[im.method] = append(found[im.method], "--"+name)
			}
		}
	}
	// A --cert with PKCS#11 names the token's certificate, not an mTLS pair.
	if _, ok := found["pkcs11"]; ok {
		delete(found, "mtls")
	}
	if s.IsSet("cert") && len(found) == 0 {
		found["mtls"] = []string{"--cert"}
	}
	switch len(found) {
	case 0:
		if s.IsSet("username") || s.IsSet("password") || s.IsSet("password-file") {
			return "userpass", nil
		}
		return "none", nil
	case 1:
		for m := range found {
			return m, nil
		}
	}
	var parts []string
	for m, names := range found {
		parts = append(parts, fmt.Sprintf("%s (%s)", m, strings.Join(names, ", ")))
	}
	sort.Strings(parts)
	return "", errs.Usagef("conflicting auth settings: %s: choose one with --auth or remove the others", strings.Join(parts, " and "))
}
