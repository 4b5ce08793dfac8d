package iot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/iotctl/iotctl/internal/atomicfile"
	"github.com/iotctl/iotctl/pkg/policy"
)

// registry is what fleet provisioning created: certificates (with their
// status), things and policy attachments. With a state directory it is
// kept in StateDir/provisioning/registry.json, written atomically after
// each change.
type registry struct {
	Certificates map[string]*issuedCert `json:"certificates"`
	Things       map[string]regThing    `json:"things"`
	Attachments  []attachment           `json:"attachments"`
}

// Certificate statuses.
const (
	statusPending  = "PENDING_ACTIVATION"
	statusActive   = "ACTIVE"
	statusInactive = "INACTIVE"
)

type issuedCert struct {
	Status  string `json:"status"`
	PEM     string `json:"pem"`
	Created int64  `json:"created"` // Unix seconds
}

type regThing struct {
	Principal  string            `json:"principal"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// attachment is a policy attached to a principal by a template: a named
// policy (Name, with the document it had) or an inline document.
type attachment struct {
	Principal string `json:"principal"`
	Name      string `json:"name,omitempty"`
	Document  string `json:"document"`
}

func newRegistry() *registry {
	return &registry{Certificates: map[string]*issuedCert{}, Things: map[string]regThing{}}
}

func (r *registry) clone() *registry {
	c := newRegistry()
	for id, ic := range r.Certificates {
		v := *ic
		c.Certificates[id] = &v
	}
	for n, t := range r.Things {
		c.Things[n] = t
	}
	c.Attachments = append(c.Attachments, r.Attachments...)
	return c
}

func registryFile(dir string) string { return filepath.Join(dir, "registry.json") }

func loadRegistry(dir string) (*registry, error) {
	r := newRegistry()
	if dir == "" {
		return r, nil
	}
	data, err := os.ReadFile(registryFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(r); err != nil {
		return nil, fmt.Errorf("%s: %v: move it away or fix it", registryFile(dir), err)
	}
	if r.Certificates == nil {
		r.Certificates = map[string]*issuedCert{}
	}
	if r.Things == nil {
		r.Things = map[string]regThing{}
	}
	for _, a := range r.Attachments {
		if _, err := policy.Parse([]byte(a.Document)); err != nil || CheckPrincipal(a.Principal) != nil {
			return nil, fmt.Errorf("%s: the policy attached to %q does not parse: move it away or fix it", registryFile(dir), a.Principal)
		}
	}
	return r, nil
}

func (r *registry) save(dir string) error {
	if dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(registryFile(dir), append(b, '\n'))
}

// attached reports whether a is already in the registry.
func (r *registry) attached(a attachment) bool {
	for _, x := range r.Attachments {
		if x.Principal == a.Principal && x.Name == a.Name && (a.Name != "" || x.Document == a.Document) {
			return true
		}
	}
	return false
}
