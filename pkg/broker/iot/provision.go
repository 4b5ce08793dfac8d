package iot

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/certfile"
	"github.com/iotctl/iotctl/pkg/policy"
)

// The fleet provisioning service of the emulation (IoT Core's device
// provisioning MQTT API). Requests are publishes to
//
//	$aws/certificates/create/{json|cbor}                      CreateKeysAndCertificate
//	$aws/certificates/create-from-csr/{json|cbor}             CreateCertificateFromCsr
//	$aws/provisioning-templates/{name}/provision/{json|cbor}  RegisterThing
//
// answered on …/accepted or …/rejected to the requesting connection only,
// as IoT Core answers "through the same MQTT connection" (claim
// certificates are shared by a fleet: one device never sees another's
// key). Certificates are issued by the emulator's provisioning CA, which
// the mutual TLS listener trusts; a certificate can connect once
// RegisterThing has made it ACTIVE.

// ProvisioningTemplate is a fleet provisioning template (JSON, see
// provision_template.go) under its name, with an optional pre-provisioning
// hook command (see provision_hook.go).
type ProvisioningTemplate struct {
	Name string
	Body []byte
	Hook string
}

// NamedPolicy is a policy that templates attach by PolicyName.
type NamedPolicy struct {
	Name     string
	Document []byte
}

type namedPolicy struct {
	text []byte
	doc  *policy.Document
}

// provError is a rejection: {"statusCode", "errorCode", "errorMessage"}.
type provError struct {
	status  int
	code    string
	message string
}

var (
	errProvPayload  = &provError{400, "InvalidPayload", "Request payload is not a valid JSON object."}
	errProvInternal = &provError{500, "InternalFailure", "Internal failure."}
)

// Request topics.
const (
	topicTemplates = "$aws/provisioning-templates/"
)

type provisioningService struct {
	e         *Emulator
	ca        *provisioningCA
	dir       string // "": in memory only
	templates map[string]*template
	named     map[string]namedPolicy

	mu  sync.Mutex // one change at a time
	reg *registry

	replyMu sync.Mutex
	replyTo atomic.Pointer[broker.Client] // the one connection a reply goes to

	// stop ends running pre-provisioning hooks when the broker closes.
	stop     context.Context
	stopHook context.CancelFunc
}

// setupProvisioning checks the templates and named policies, loads the CA
// and the registry, and records what earlier runs provisioned.
func (e *Emulator) setupProvisioning() error {
	s := &provisioningService{e: e, templates: map[string]*template{}, named: map[string]namedPolicy{}}
	s.stop, s.stopHook = context.WithCancel(context.Background())
	for _, np := range e.cfg.NamedPolicies {
		if np.Name == "" {
			return fmt.Errorf("a named policy needs a name")
		}
		if _, dup := s.named[np.Name]; dup {
			return fmt.Errorf("policy %s is named twice", np.Name)
		}
		if err := policy.CheckSize(np.Document); err != nil {
			return fmt.Errorf("policy %s: %v", np.Name, err)
		}
		doc, err := policy.Parse(np.Document)
		if err != nil {
			return fmt.Errorf("policy %s: %v", np.Name, err)
		}
		s.named[np.Name] = namedPolicy{text: np.Document, doc: doc}
	}
	for _, pt := range e.cfg.ProvisioningTemplates {
		if !validTemplateName(pt.Name) {
			return fmt.Errorf("provisioning template %q: a name is 1 to 36 characters of a-z A-Z 0-9 _ -", pt.Name)
		}
		if _, dup := s.templates[pt.Name]; dup {
			return fmt.Errorf("provisioning template %s is given twice", pt.Name)
		}
		t, err := parseTemplate(pt.Name, pt.Body, s.named)
		if err != nil {
			return fmt.Errorf("provisioning template %s: %v", pt.Name, err)
		}
		t.hook = pt.Hook
		s.templates[pt.Name] = t
	}
	if e.cfg.StateDir != "" {
		s.dir = filepath.Join(e.cfg.StateDir, "provisioning")
	}
	var err error
	if s.ca, err = loadProvisioningCA(s.dir, e.cfg.Now()); err != nil {
		return fmt.Errorf("state directory: %v", err)
	}
	if s.reg, err = loadRegistry(s.dir); err != nil {
		return fmt.Errorf("state directory: %v", err)
	}
	for name, t := range s.reg.Things {
		e.things[name] = Thing{Name: name, Principal: t.Principal, Attributes: t.Attributes}
	}
	for _, a := range s.reg.Attachments {
		text := []byte(a.Document)
		if np, ok := s.named[a.Name]; ok {
			text = np.text // the policy as given now
		}
		doc, _ := policy.Parse(text) // checked by loadRegistry
		e.policies[a.Principal] = append(e.policies[a.Principal], doc)
	}
	e.prov = s
	e.services = append(e.services, s)
	return nil
}

// validTemplateName: IoT Core's template names, [0-9A-Za-z_-]{1,36}.
func validTemplateName(s string) bool {
	if s == "" || len(s) > 36 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *provisioningService) close() { s.stopHook() }

// summary describes the service in the start-up line.
func (s *provisioningService) summary() string {
	names := sortedKeys(s.templates)
	if len(names) == 0 {
		names = []string{"none"}
	}
	s.mu.Lock()
	n := len(s.reg.Certificates)
	s.mu.Unlock()
	return fmt.Sprintf("provisioning templates: %s, %d provisioned certificate(s)", strings.Join(names, ", "), n)
}

func (s *provisioningService) handle(cl *broker.Client, topic string, payload []byte) bool {
	base, ok := strings.CutSuffix(topic, "/json")
	if !ok {
		if base, ok = strings.CutSuffix(topic, "/cbor"); !ok {
			return false
		}
		if len(payload) > 0 {
			js, err := cborToJSON(payload)
			if err != nil {
				js = []byte("!") // not a document: rejected as InvalidPayload
			}
			payload = js
		}
	}
	switch {
	case base == "$aws/certificates/create":
		s.createKeys(cl, topic, payload)
	case base == "$aws/certificates/create-from-csr":
		s.createFromCSR(cl, topic, payload)
	case strings.HasPrefix(base, topicTemplates) && strings.HasSuffix(base, "/provision"):
		name := strings.TrimSuffix(strings.TrimPrefix(base, topicTemplates), "/provision")
		if strings.Contains(name, "/") {
			return false
		}
		s.register(cl, topic, name, payload)
	default:
		return false
	}
	return true
}

// isProvisioningReply reports whether topic is one the service answers on.
func isProvisioningReply(topic string) bool {
	if !strings.HasPrefix(topic, "$aws/certificates/create") && !strings.HasPrefix(topic, topicTemplates) {
		return false
	}
	return strings.HasSuffix(topic, "/accepted") || strings.HasSuffix(topic, "/rejected")
}

// mayReceive keeps the service's answers to the connection that asked:
// any other delivery on a reply topic (another subscriber, or a client
// publishing there) is dropped.
func (s *provisioningService) mayReceive(cl *broker.Client, topic string) bool {
	return !isProvisioningReply(topic) || s.replyTo.Load() == cl
}

func (s *provisioningService) answer(cl *broker.Client, topic string, body any) {
	s.replyMu.Lock()
	defer s.replyMu.Unlock()
	if strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(topic, "/accepted"), "/rejected"), "/cbor") {
		b, err := cborEncode(body)
		if err != nil {
			s.e.log.Error("IoT: fleet provisioning reply", "topic", topic, "err", err)
			return
		}
		body = b
	}
	s.replyTo.Store(cl)
	defer s.replyTo.Store(nil)
	s.e.reply.publish("fleet provisioning", topic, body)
}

func (s *provisioningService) reject(cl *broker.Client, topic, op string, pe *provError, why string) {
	attrs := []any{"client", cl.ID, "operation", op, "statusCode", pe.status, "errorCode", pe.code, "errorMessage", pe.message}
	if why != "" {
		attrs = append(attrs, "reason", why)
	}
	s.e.log.Warn("IoT: fleet provisioning request rejected", attrs...)
	s.answer(cl, topic+"/rejected", map[string]any{"statusCode": pe.status, "errorCode": pe.code, "errorMessage": pe.message})
}

// decodeRequest reads a request body: a JSON object (an empty payload is {}).
func decodeRequest(payload []byte, v any) bool {
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	}
	return json.Unmarshal(payload, v) == nil
}

// createKeys is CreateKeysAndCertificate.
func (s *provisioningService) createKeys(cl *broker.Client, topic string, payload []byte) {
	const op = "CreateKeysAndCertificate"
	var req map[string]any
	if !decodeRequest(payload, &req) {
		s.reject(cl, topic, op, errProvPayload, "")
		return
	}
	key, keyPEM, err := newKeyPair()
	if err != nil {
		s.reject(cl, topic, op, errProvInternal, err.Error())
		return
	}
	id, certPEM, tok, perr := s.issue(cl, op, key.Public(), pkix.Name{CommonName: "AWS IoT Certificate"})
	if perr != nil {
		s.reject(cl, topic, op, perr, "")
		return
	}
	s.answer(cl, topic+"/accepted", map[string]any{
		"certificateId": id, "certificatePem": certPEM, "privateKey": keyPEM, "certificateOwnershipToken": tok,
	})
}

// createFromCSR is CreateCertificateFromCsr.
func (s *provisioningService) createFromCSR(cl *broker.Client, topic string, payload []byte) {
	const op = "CreateCertificateFromCsr"
	var req struct {
		CSR *string `json:"certificateSigningRequest"`
	}
	if !decodeRequest(payload, &req) {
		s.reject(cl, topic, op, errProvPayload, "")
		return
	}
	if req.CSR == nil || *req.CSR == "" {
		s.reject(cl, topic, op, &provError{400, "InvalidPayload", "certificateSigningRequest is missing."}, "")
		return
	}
	csr, why := parseCSR(*req.CSR)
	if why != "" {
		s.reject(cl, topic, op, &provError{400, "InvalidCsr", "The certificate signing request is not valid: " + why}, why)
		return
	}
	id, certPEM, tok, perr := s.issue(cl, op, csr.PublicKey, csr.Subject)
	if perr != nil {
		s.reject(cl, topic, op, perr, "")
		return
	}
	s.answer(cl, topic+"/accepted", map[string]any{
		"certificateId": id, "certificatePem": certPEM, "certificateOwnershipToken": tok,
	})
}

// parseCSR reads a PEM CSR and checks its signature.
func parseCSR(text string) (*x509.CertificateRequest, string) {
	b, _ := pem.Decode([]byte(text))
	if b == nil || (b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST") {
		return nil, "no PEM CERTIFICATE REQUEST"
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, err.Error()
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "signature: " + err.Error()
	}
	if why := certfile.IoTKeyProblem(csr.PublicKey); why != "" {
		return nil, why
	}
	return csr, ""
}

// issue signs and records a PENDING_ACTIVATION certificate and makes its
// ownership token.
func (s *provisioningService) issue(cl *broker.Client, op string, pub any, subject pkix.Name) (id, certPEM, tok string, pe *provError) {
	now := s.e.cfg.Now()
	cert, err := s.ca.issue(pub, subject, now)
	if err != nil {
		s.e.log.Error("IoT: fleet provisioning "+op, "client", cl.ID, "err", err)
		return "", "", "", errProvInternal
	}
	id = CertificateID(cert.Raw)
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.reg.clone()
	// A certificate never registered is dropped once its token expired.
	for cid, ic := range next.Certificates {
		if ic.Status == statusPending && now.Unix() >= ic.Created+int64(ownershipTokenTTL.Seconds()) {
			delete(next.Certificates, cid)
		}
	}
	next.Certificates[id] = &issuedCert{Status: statusPending, PEM: certPEM, Created: now.Unix()}
	if err := next.save(s.dir); err != nil {
		s.e.log.Error("IoT: fleet provisioning registry not saved", "err", err)
		return "", "", "", errProvInternal
	}
	s.reg = next
	if s.e.cfg.Verbose {
		s.e.log.Info("IoT: certificate issued", "client", cl.ID, "operation", op, "certificate", id)
	}
	return id, certPEM, s.ca.token(id, now), nil
}

// status is an issued certificate's status; "" for one the service did
// not issue (or forgot).
func (s *provisioningService) status(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ic, ok := s.reg.Certificates[id]; ok {
		return ic.Status
	}
	return ""
}

// register is RegisterThing.
func (s *provisioningService) register(cl *broker.Client, topic, name string, payload []byte) {
	const op = "RegisterThing"
	var req struct {
		Token      string         `json:"certificateOwnershipToken"`
		Parameters map[string]any `json:"parameters"`
	}
	if !decodeRequest(payload, &req) {
		s.reject(cl, topic, op, errProvPayload, "")
		return
	}
	t, ok := s.templates[name]
	if !ok {
		s.reject(cl, topic, op, &provError{404, "ResourceNotFound", "Template " + name + " does not exist."}, "no --provisioning-template "+name)
		return
	}
	if req.Token == "" {
		s.reject(cl, topic, op, &provError{400, "InvalidCertificateOwnershipToken", "Certificate ownership token cannot be empty."}, "")
		return
	}
	now := s.e.cfg.Now()
	certID, pe := s.ca.verifyToken(req.Token, now)
	var ic issuedCert
	if pe == nil {
		s.mu.Lock()
		c, ok := s.reg.Certificates[certID]
		if ok {
			ic = *c
		}
		s.mu.Unlock()
		if !ok {
			pe = errTokenInvalid // issued here, but the certificate is gone
		}
	}
	if pe != nil {
		s.reject(cl, topic, op, pe, "")
		return
	}
	vals := values{}
	for k, v := range req.Parameters {
		str, ok := scalar(v)
		if !ok {
			s.reject(cl, topic, op, errParam("Parameter %s is not a string.", k), "")
			return
		}
		vals[k] = str
	}
	if t.hook != "" {
		over, err := runProvisioningHook(s.stop, t.hook, s.hookEvent(cl, t, certID, ic.PEM, vals))
		if err != nil {
			s.reject(cl, topic, op, &provError{403, "AccessDenied", "Pre provisioning hook validation failed."}, "pre-provisioning hook of "+name+": "+err.Error())
			return
		}
		for k, v := range over {
			vals[k] = v
		}
	}
	if b, _ := pem.Decode([]byte(ic.PEM)); b != nil {
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			certParams(vals, certID, c.Subject)
		}
	}
	p, pe := t.evaluate(vals, s.named, certID)
	if pe != nil {
		s.reject(cl, topic, op, pe, "")
		return
	}
	if pe := s.apply(p); pe != nil {
		s.reject(cl, topic, op, pe, "")
		return
	}
	body := map[string]any{"deviceConfiguration": map[string]any{}}
	if p.config != nil {
		body["deviceConfiguration"] = p.config
	}
	if p.thing != nil {
		body["thingName"] = p.thing.Name
	}
	if s.e.cfg.Verbose {
		thing := ""
		if p.thing != nil {
			thing = p.thing.Name
		}
		s.e.log.Info("IoT: thing provisioned", "client", cl.ID, "template", name, "thing", thing, "certificate", certID, "status", p.certStatus)
	}
	s.answer(cl, topic+"/accepted", body)
}

func (s *provisioningService) hookEvent(cl *broker.Client, t *template, certID, certPEM string, vals values) ProvisioningHookEvent {
	ev := ProvisioningHookEvent{
		CertificateID:  certID,
		CertificatePem: certPEM,
		TemplateARN:    policy.ARN(s.e.cfg.Region, s.e.cfg.Account, "provisioningtemplate", t.name),
		ClientID:       cl.ID,
		Parameters:     map[string]string{},
	}
	for k, v := range vals {
		ev.Parameters[k] = v
	}
	if c, ok := s.e.conns.Load(cl); ok {
		ev.ClaimCertificateID, _ = strings.CutPrefix(c.(*conn).principal, PrefixCert)
		if ev.ClaimCertificateID == c.(*conn).principal {
			ev.ClaimCertificateID = "" // not a certificate
		}
	}
	return ev
}

// certParams are the AWS::IoT::Certificate::… values of the certificate.
func certParams(vals values, id string, sub pkix.Name) {
	vals[certParamPrefix+"Id"] = id
	set := func(k string, v []string) {
		if len(v) > 0 {
			vals[certParamPrefix+k] = v[0]
		}
	}
	if sub.CommonName != "" {
		vals[certParamPrefix+"CommonName"] = sub.CommonName
	}
	if sub.SerialNumber != "" {
		vals[certParamPrefix+"SerialNumber"] = sub.SerialNumber
	}
	set("Country", sub.Country)
	set("Organization", sub.Organization)
	set("OrganizationalUnit", sub.OrganizationalUnit)
	set("StateName", sub.Province)
	set("Locality", sub.Locality)
}

// apply records a plan: the certificate's status, the thing, the policies
// attached to the certificate's principal; saved first, then in force for
// the next connection.
func (s *provisioningService) apply(p *plan) *provError {
	principal := PrefixCert + p.certID
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.reg.clone()
	ic, ok := next.Certificates[p.certID]
	if !ok {
		return errTokenInvalid
	}
	ic.Status = p.certStatus
	if p.thing != nil {
		next.Things[p.thing.Name] = regThing{Principal: principal, Attributes: p.thing.Attributes}
	}
	var docs []*policy.Document
	for _, pp := range p.policies {
		a := attachment{Principal: principal, Name: pp.name, Document: string(pp.text)}
		if next.attached(a) {
			continue
		}
		next.Attachments = append(next.Attachments, a)
		doc, err := policy.Parse(pp.text)
		if err != nil {
			return errProvInternal // checked when evaluated
		}
		docs = append(docs, doc)
	}
	if err := next.save(s.dir); err != nil {
		s.e.log.Error("IoT: fleet provisioning registry not saved", "err", err)
		return errProvInternal
	}
	s.reg = next
	e := s.e
	e.mu.Lock()
	if p.thing != nil {
		e.things[p.thing.Name] = *p.thing
	}
	e.policies[principal] = append(e.policies[principal], docs...)
	e.mu.Unlock()
	return nil
}
