package auth

import (
	"fmt"
	"os"
	"runtime"

	"github.com/iotctl/iotctl/pkg/profile"
)

// FileWarnings names the secret files of the settings (private key,
// PKCS#12 file, password file) that group or others may read, as ssh does
// for private keys. Windows modes say nothing of the ACL: it checks none.
func FileWarnings(s *profile.Settings) []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	var out []string
	for _, f := range []struct{ what, path string }{
		{"private key file", s.Key},
		{"PKCS#12 file", s.PKCS12File},
		{"password file", s.PasswordFile},
	} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(profile.ExpandHome(f.path))
		if err != nil || !fi.Mode().IsRegular() {
			continue // the method's own checks report missing files
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s %s has permissions open to others (mode %04o): run chmod 600 %s", f.what, f.path, perm, f.path))
		}
	}
	return out
}
