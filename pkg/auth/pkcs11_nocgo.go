//go:build !cgo

package auth

import (
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
)

// PKCS#11 modules are C shared libraries: loading one needs cgo.
func init() {
	constructors["pkcs11"] = func(*profile.Settings) (Provider, error) {
		return nil, errs.Usagef("this build has no PKCS#11 support (built without cgo): build iotctl with cgo (CGO_ENABLED=1 go install github.com/iotctl/iotctl/cmd/iotctl@latest) or use --auth pkcs12/mtls")
	}
}
