package provision

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/iotctl/iotctl/internal/atomicfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// writeFiles writes the key (the secret nothing can give back) and then
// the certificate, 0600 and atomically, replacing nothing without force.
func (p *plan) writeFiles(certPEM, keyPEM []byte) error {
	o := atomicfile.Options{NoReplace: !p.force, KeepDir: true}
	if p.keyFile != "" {
		if err := writeFile(p.keyFile, keyPEM, o); err != nil {
			return err
		}
	}
	if err := writeFile(p.certFile, certPEM, o); err != nil {
		if p.keyFile != "" {
			return errs.New(errs.Output, errors.Join(err, errors.New("the private key was written to "+p.keyFile)))
		}
		return err
	}
	return nil
}

func writeFile(path string, data []byte, o atomicfile.Options) error {
	err := atomicfile.WriteFile(path, data, o)
	switch {
	case errors.Is(err, fs.ErrExist):
		return errs.New(errs.Output, errors.New("write "+path+": created meanwhile by someone else: it was left alone (--force replaces it)"))
	case err != nil:
		return errs.New(errs.Output, err)
	}
	return nil
}

// identitySettings belong to the claim identity (or are not connection
// settings): a saved profile leaves them out.
var identitySettings = []string{
	"auth", "cert", "key", "key-password", "client-id", "client-id-prefix", "thing-name",
	"username", "password", "password-file", "aws-profile", "sts-endpoint",
	"cognito-identity-id", "cognito-login", "cognito-endpoint",
	"authorizer-name", "authorizer-username", "authorizer-password",
	"token-key-name", "token-value", "token-signature", "no-metrics",
	"pkcs11-lib", "pkcs11-pin", "pkcs11-slot", "pkcs11-token-label", "pkcs11-key-label",
	"pkcs12-file", "pkcs12-password", "cert-store",
	"will-topic", "will-message", "will-qos", "will-retain", "will-delay", "will-expiry", "will-content-type", "will-property",
	"output", "verbose", "debug", "log-file",
}

// profileValues are the settings of the new identity's profile: the
// connection settings of this run that were given (endpoint, CA, ALPN,
// proxy, session, limits …), files as absolute paths, then mutual TLS with
// the new certificate and key, and the thing name as client ID.
func profileValues(st *profile.Settings, thing, certFile, keyFile string) (map[string]string, error) {
	values := map[string]string{}
	for _, e := range st.Entries {
		if !st.IsSet(e.Name) || e.Source == profile.FromEndpoint || slices.Contains(identitySettings, e.Name) {
			continue
		}
		v := e.Value
		if d, ok := profile.Lookup(e.Name); ok && d.FileValue && v != "" && !strings.HasPrefix(v, "~") {
			abs, err := filepath.Abs(v)
			if err != nil {
				return nil, err
			}
			v = abs
		}
		values[e.Name] = v
	}
	values["auth"] = "mtls"
	values["client-id"] = thing
	values["thing-name"] = thing
	for name, f := range map[string]string{"cert": certFile, "key": keyFile} {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		values[name] = abs
	}
	return values, nil
}

// saveProfile writes the profile under the store's lock, atomically, as
// profile set does; without force, a profile made meanwhile is left alone.
func saveProfile(s *profilestore.Store, name string, force bool, values map[string]string) error {
	save := s.Create
	if force {
		save = s.Save
	}
	err := save(name, values)
	switch {
	case errors.Is(err, profilestore.ErrExists):
		return errs.Usagef("--save-profile %s: the profile was created meanwhile: it was left alone (--force replaces it)", name)
	case err != nil:
		return errs.Usagef("--save-profile %s: %v", name, err)
	}
	return nil
}
