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

// implies lists the settings that select a method on their own.
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

// weak lists the settings that go with other methods too (mtls sends a
// username, pkcs11 reads --cert): they select their method only in place
// of none.
var weak = []struct {
	method   string
	settings []string
}{
	{"mtls", []string{"cert"}},
	{"userpass", []string{"username", "password", "password-file"}},
}

// New returns the Provider of the method Method picks.
func New(s *profile.Settings) (Provider, error) {
	method, _, err := Method(s)
	if err != nil {
		return nil, err
	}
	c, ok := constructors[method]
	if !ok {
		return nil, errs.Usagef("auth method %q is not available in this build", method)
	}
	return c(s)
}

// Infer returns the method Method picks.
func Infer(s *profile.Settings) (string, error) {
	m, _, err := Method(s)
	return m, err
}

// Method picks the auth method of the settings; inferred is true when it
// was not named by auth. Flag > env > profile holds for the method as for
// every setting: a setting that implies a method (--key: mtls,
// --pkcs12-file: pkcs12, …) wins over an auth from a lower level, and an
// auth wins over what its own level or a lower one implies. Two methods
// implied at the winning level are a usage error naming both. A
// certificate alone, a username or a password imply mtls or userpass only
// in place of none, as they go with other methods too.
func Method(s *profile.Settings) (method string, inferred bool, err error) {
	authLevel := -1
	if s.Auth != "" {
		authLevel = level(s, "auth")
	}
	for lv := levelFlag; lv > authLevel && lv > levelDefault; lv-- {
		found := map[string][]string{}
		for _, im := range implies {
			for _, name := range im.settings {
				if level(s, name) == lv {
					found[im.method] = append(found[im.method], settingName(s, name))
				}
			}
		}
		// A --cert or --key with PKCS#11 names the token's certificate,
		// not an mTLS pair.
		if _, ok := found["pkcs11"]; ok {
			delete(found, "mtls")
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			for m := range found {
				return m, true, nil
			}
		}
		var parts []string
		for m, names := range found {
			parts = append(parts, fmt.Sprintf("%s (%s)", m, strings.Join(names, ", ")))
		}
		sort.Strings(parts)
		return "", false, errs.Usagef("conflicting auth settings: %s: choose one with --auth or remove the others", strings.Join(parts, " and "))
	}
	if s.Auth != "" && s.Auth != "none" {
		return s.Auth, false, nil
	}
	for _, w := range weak {
		for _, name := range w.settings {
			if level(s, name) > authLevel && level(s, name) > levelDefault {
				return w.method, true, nil
			}
		}
	}
	if s.Auth != "" {
		return s.Auth, false, nil
	}
	return "none", true, nil
}

// Levels of a setting's source; a higher level wins.
const (
	levelDefault = iota
	levelProfile
	levelEnv
	levelFlag
)

func level(s *profile.Settings, name string) int {
	switch s.Source(name) {
	case profile.FromFlag:
		return levelFlag
	case profile.FromEnv:
		return levelEnv
	case profile.FromProfile:
		return levelProfile
	case profile.FromEndpoint:
		// A username or password from the endpoint URL has its level.
		return level(s, "endpoint")
	}
	return levelDefault
}

// settingName spells a setting as the user gave it: --key, IOTCTL_KEY,
// key in profile NAME.
func settingName(s *profile.Settings, name string) string {
	switch s.Source(name) {
	case profile.FromEnv:
		return profile.EnvName(name)
	case profile.FromProfile:
		return name + " in profile " + s.Profile
	}
	return "--" + name
}
