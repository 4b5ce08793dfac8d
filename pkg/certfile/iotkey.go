package certfile

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// IoTKeyProblem says why AWS IoT would refuse the key of a CSR (empty:
// none): it takes an RSA key of 2048 bits or more or an ECDSA key on
// P-256, P-384 or P-521.
func IoTKeyProblem(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Sprintf("an RSA key of %d bits: at least 2048 are required", k.N.BitLen())
		}
		return ""
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return ""
		}
		return "an ECDSA key on " + k.Curve.Params().Name + ": P-256, P-384 or P-521 is required"
	}
	name := fmt.Sprintf("%T", pub)
	if _, ok := pub.(ed25519.PublicKey); ok {
		name = "Ed25519"
	}
	return "a key of type " + name + ": an RSA (2048 bits or more) or ECDSA (P-256, P-384, P-521) key is required"
}
