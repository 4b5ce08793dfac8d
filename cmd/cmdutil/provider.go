package cmdutil

import (
	"github.com/iotctl/iotctl/pkg/auth"
	"github.com/iotctl/iotctl/pkg/profile"
)

// NewProvider builds the auth provider of the settings and prints, through
// warn, what every run must say once: --insecure, SSLKEYLOGFILE, and
// secret files that others may read. Every command that connects builds its provider here.
func NewProvider(st *profile.Settings, warn func(string)) (auth.Provider, error) {
	p, err := auth.New(st)
	if err != nil {
		return nil, err
	}
	if warn != nil {
		if st.Insecure {
			warn("--insecure: the server certificate is not verified")
		}
		if n := auth.KeyLogNotice(); n != "" {
			warn(n)
		}
		for _, w := range auth.FileWarnings(st) {
			warn(w)
		}
	}
	return p, nil
}
