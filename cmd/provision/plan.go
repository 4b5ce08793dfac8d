package provision

import (
	"crypto"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profilestore"
)

// The files provision writes in --out, named as the AWS IoT console names
// a device's downloads.
const (
	certName = "certificate.pem.crt"
	keyName  = "private.pem.key"
)

// templateRE is AWS IoT's provisioning template name pattern; the length
// (1 to 36) is checked apart.
var templateRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9A-Za-z_-]+$`) })

// plan is what the flags ask for, checked before connecting.
type plan struct {
	template string
	params   map[string]string
	certFile string
	keyFile  string // "" with --csr: the key stays where it is
	force    bool

	// --create-key: the key made here, and the CSR of either key path.
	key    crypto.Signer
	keyPEM []byte
	csrPEM []byte
	csrPub crypto.PublicKey
}

// check validates the flags, reads --csr or makes the key, and makes sure
// the files can be written without replacing any (unless --force); the
// network is not touched.
func (o *Options) check() (*plan, error) {
	switch {
	case o.Template == "":
		return nil, errs.Usagef("provision: no template: give --template NAME (the fleet provisioning template the claim certificate may use)")
	case len(o.Template) > 36 || !templateRE().MatchString(o.Template):
		return nil, errs.Usagef("provision: invalid --template %q: a template name is 1 to 36 letters, digits, _ and -", o.Template)
	case o.CSR != "" && o.CreateKey:
		return nil, errs.Usagef("provision: give --csr FILE or --create-key, not both")
	case o.Out == "":
		return nil, errs.Usagef("provision: no --out DIR: give the folder for %s and %s", certName, keyName)
	case o.Timeout <= 0:
		return nil, errs.Usagef("provision: --timeout %s: must be positive", o.Timeout)
	}
	p := &plan{template: o.Template, force: o.Force, certFile: filepath.Join(o.Out, certName)}
	var err error
	if p.params, err = params(o.Params); err != nil {
		return nil, err
	}
	if o.CSR == "" {
		p.keyFile = filepath.Join(o.Out, keyName)
	}
	if err := checkOut(o.Out, o.Force, p.certFile, p.keyFile); err != nil {
		return nil, err
	}
	if o.SaveProfile != "" {
		if err := checkProfile(o.Store(), o.SaveProfile, o.Force); err != nil {
			return nil, err
		}
	}
	switch {
	case o.CSR != "":
		csr, pemData, err := readCSR(o.CSR)
		if err != nil {
			return nil, err
		}
		p.csrPEM, p.csrPub = pemData, csr.PublicKey
	case o.CreateKey:
		if p.key, p.keyPEM, p.csrPEM, err = newKey(); err != nil {
			return nil, errs.New(errs.Unexpected, err)
		}
	}
	return p, nil
}

// params parses --param KEY=VALUE: a key once, texts in UTF-8 (JSON
// carries any other character).
func params(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			return nil, errs.Usagef("provision: --param %q: want KEY=VALUE (a template parameter, e.g. SerialNumber=1234)", kv)
		case !utf8.ValidString(kv):
			return nil, errs.Usagef("provision: --param %q: not valid UTF-8", kv)
		}
		if _, dup := out[k]; dup {
			return nil, errs.Usagef("provision: --param %q given twice: give each parameter once", k)
		}
		out[k] = v
	}
	return out, nil
}

// checkOut makes sure the files can be written, changing nothing: the
// folder is one, or its nearest existing parent takes files (the folder is
// made when the files are written), and no file is replaced without force.
func checkOut(dir string, force bool, files ...string) error {
	probeDir := dir
	for {
		fi, err := os.Stat(probeDir)
		if err == nil {
			if !fi.IsDir() {
				return errs.Usagef("provision: --out %s: %s is not a folder: give a folder for %s and %s", dir, probeDir, certName, keyName)
			}
			break
		}
		parent := filepath.Dir(probeDir)
		if !errors.Is(err, fs.ErrNotExist) || parent == probeDir {
			return errs.Usagef("provision: --out %s: %v", dir, certfile.UnwrapPathErr(err))
		}
		probeDir = parent
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		fi, err := os.Lstat(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return errs.Usagef("provision: %s: %v", f, certfile.UnwrapPathErr(err))
		case fi.IsDir():
			return errs.Usagef("provision: %s is a folder: move it away or give another --out", f)
		case !force:
			return errs.Usagef("provision: %s exists: give --force to replace it, or another --out", f)
		}
	}
	probe, err := os.CreateTemp(probeDir, ".iotctl-probe-*")
	if err != nil {
		return errs.Usagef("provision: --out %s: cannot write in %s: %v", dir, probeDir, certfile.UnwrapPathErr(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// checkProfile checks --save-profile's name, and that it names no profile
// unless force.
func checkProfile(s *profilestore.Store, name string, force bool) error {
	if err := profilestore.ValidateName(name); err != nil {
		return errs.Usagef("provision: --save-profile: %v", err)
	}
	if s.Exists(name) && !force {
		return errs.Usagef("provision: --save-profile %s: the profile exists (%s): give --force to replace it, or another name", name, s.Path(name))
	}
	return nil
}
