//go:build !windows

package auth

import (
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

func init() {
	constructors["winstore"] = func(*profile.Settings) (Provider, error) {
		return nil, errs.Usagef("the Windows certificate store is only available on Windows: on this system use --auth mtls (PEM files), pkcs12 or pkcs11")
	}
}
