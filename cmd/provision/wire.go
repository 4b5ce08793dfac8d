package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/esc"
	"github.com/iotctl/iotctl/pkg/iotsvc"
)

// The fleet provisioning MQTT API in JSON (AWS IoT Core developer guide,
// "Device provisioning MQTT API"). Its replies echo no clientToken.
const (
	createTopic        = "$aws/certificates/create/json"
	createFromCSRTopic = "$aws/certificates/create-from-csr/json"
)

func registerTopic(template string) string {
	return "$aws/provisioning-templates/" + template + "/provision/json"
}

// issued is the answer of CreateKeysAndCertificate (with PrivateKey) and
// of CreateCertificateFromCsr (without).
type issued struct {
	CertificateID  string `json:"certificateId"`
	CertificatePEM string `json:"certificatePem"`
	PrivateKey     string `json:"privateKey"`
	OwnershipToken string `json:"certificateOwnershipToken"`
}

// registered is the answer of RegisterThing.
type registered struct {
	ThingName           string         `json:"thingName"`
	DeviceConfiguration map[string]any `json:"deviceConfiguration"`
}

// requester is what the API needs of iotsvc.Client.
type requester interface {
	Do(ctx context.Context, r iotsvc.Request) (*iotsvc.Reply, error)
}

// createCertificate is CreateKeysAndCertificate, or CreateCertificateFromCsr
// when csrPEM is set.
func createCertificate(ctx context.Context, c requester, csrPEM []byte) (*issued, error) {
	op, req := "CreateKeysAndCertificate", iotsvc.Request{Topic: createTopic, NoToken: true}
	if csrPEM != nil {
		op = "CreateCertificateFromCsr"
		req = iotsvc.Request{Topic: createFromCSRTopic, NoToken: true,
			Body: map[string]any{"certificateSigningRequest": string(csrPEM)}}
	}
	var out issued
	if err := call(ctx, c, op, req, &out); err != nil {
		return nil, err
	}
	switch {
	case out.CertificateID == "", out.CertificatePEM == "", out.OwnershipToken == "":
		return nil, badAnswer(op, "certificateId, certificatePem or certificateOwnershipToken missing")
	case csrPEM == nil && out.PrivateKey == "":
		return nil, badAnswer(op, "privateKey missing")
	}
	return &out, nil
}

// registerThing is RegisterThing with the ownership token and parameters.
func registerThing(ctx context.Context, c requester, template, token string, params map[string]string) (*registered, error) {
	body := map[string]any{"certificateOwnershipToken": token}
	if len(params) > 0 {
		body["parameters"] = params
	}
	var out registered
	op := "RegisterThing with template " + template
	if err := call(ctx, c, op, iotsvc.Request{Topic: registerTopic(template), NoToken: true, Body: body}, &out); err != nil {
		return nil, err
	}
	if out.ThingName == "" {
		return nil, badAnswer(op, "thingName missing")
	}
	return &out, nil
}

// call sends one request and decodes its accepted answer into out; a
// rejection keeps its kind (Refused) and says which operation it was.
func call(ctx context.Context, c requester, op string, req iotsvc.Request, out any) error {
	rep, err := c.Do(ctx, req)
	var rej *iotsvc.Rejected
	switch {
	case errors.As(err, &rej):
		return errs.New(errs.Refused, fmt.Errorf("%s rejected: statusCode %s, errorCode %s, errorMessage %q",
			op, esc.String(field(rej.Body, "statusCode")), esc.String(field(rej.Body, "errorCode")), field(rej.Body, "errorMessage")))
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := json.Unmarshal(rep.Payload, out); err != nil {
		return badAnswer(op, "not the JSON object expected: "+err.Error())
	}
	return nil
}

// field is a rejection's field as text ("-" when missing).
func field(body map[string]any, name string) string {
	switch v := body[name].(type) {
	case nil:
		return "-"
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// badAnswer is an accepted reply iotctl cannot use: the service is at
// fault, so it is no usage error.
func badAnswer(op, why string) error {
	return errs.New(errs.Unexpected, fmt.Errorf("%s accepted, but the answer is unusable: %s", op, esc.String(why)))
}
