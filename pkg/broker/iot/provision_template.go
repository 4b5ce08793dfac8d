package iot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/iotctl/iotctl/pkg/policy"
)

// A provisioning template, as IoT Core's fleet provisioning reads one:
//
//	{"Parameters": {"SerialNumber": {"Type": "String", "Default": "0"}, …},
//	 "Resources": {
//	   "thing": {"Type": "AWS::IoT::Thing", "Properties": {
//	     "ThingName": {"Fn::Join": ["", ["dev-", {"Ref": "SerialNumber"}]]},
//	     "AttributePayload": {"serial": {"Ref": "SerialNumber"}}}},
//	   "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
//	     "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
//	   "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "DevicePolicy"}}},
//	 "DeviceConfiguration": {…}}
//
// Values may be intrinsic functions: Ref (a parameter, or one of the
// AWS::IoT::Certificate::… values of the new certificate), Fn::Join,
// Fn::Split and Fn::Select. A Policy resource names a --named-policy
// (PolicyName) or holds its document (PolicyDocument, a JSON string or
// object). Other resource types and functions are refused when the
// emulator starts.

// Resource types of a template.
const (
	resThing       = "AWS::IoT::Thing"
	resCertificate = "AWS::IoT::Certificate"
	resPolicy      = "AWS::IoT::Policy"
)

// certParamPrefix names the parameters fleet provisioning fills in from
// the certificate being provisioned.
const certParamPrefix = "AWS::IoT::Certificate::"

type templateParam struct {
	Type    string `json:"Type"`
	Default any    `json:"Default"`
}

type templateResource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// template is a checked provisioning template.
type template struct {
	name      string
	hook      string // pre-provisioning hook command; "" for none
	params    map[string]templateParam
	resources map[string]templateResource
	config    map[string]any
}

// parseTemplate reads and checks a template; named are the policies a
// PolicyName may name.
func parseTemplate(name string, body []byte, named map[string]namedPolicy) (*template, error) {
	var raw struct {
		Parameters          map[string]templateParam    `json:"Parameters"`
		Resources           map[string]templateResource `json:"Resources"`
		DeviceConfiguration map[string]any              `json:"DeviceConfiguration"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a provisioning template (JSON with Parameters and Resources): %v", err)
	}
	t := &template{name: name, params: raw.Parameters, resources: raw.Resources, config: raw.DeviceConfiguration}
	if t.params == nil {
		t.params = map[string]templateParam{}
	}
	for n, p := range t.params {
		switch p.Type {
		case "String", "Number":
		default:
			return nil, fmt.Errorf("parameter %s: Type %q: want String or Number", n, p.Type)
		}
		if p.Default != nil {
			if _, ok := scalar(p.Default); !ok {
				return nil, fmt.Errorf("parameter %s: Default is not a string or a number", n)
			}
		}
	}
	counts := map[string]int{}
	for _, id := range sortedKeys(t.resources) {
		r := t.resources[id]
		counts[r.Type]++
		if err := t.check(r.Properties); err != nil {
			return nil, fmt.Errorf("resource %s: %v", id, err)
		}
		props := r.Properties
		switch r.Type {
		case resThing:
			if props["ThingName"] == nil {
				return nil, fmt.Errorf("resource %s: a Thing needs ThingName", id)
			}
		case resCertificate:
			if props["CertificateId"] == nil {
				return nil, fmt.Errorf("resource %s: a Certificate needs CertificateId {\"Ref\": \"AWS::IoT::Certificate::Id\"}", id)
			}
		case resPolicy:
			pn, doc := props["PolicyName"], props["PolicyDocument"]
			switch {
			case (pn == nil) == (doc == nil):
				return nil, fmt.Errorf("resource %s: a Policy needs PolicyName or PolicyDocument", id)
			case pn != nil:
				s, ok := pn.(string)
				if !ok {
					return nil, fmt.Errorf("resource %s: PolicyName must be a plain string", id)
				}
				if _, ok := named[s]; !ok {
					return nil, fmt.Errorf("resource %s: no policy named %s: give --named-policy %s=FILE", id, s, s)
				}
			default:
				if !hasIntrinsic(doc) {
					if _, err := policyText(doc); err != nil {
						return nil, fmt.Errorf("resource %s: PolicyDocument: %v", id, err)
					}
				}
			}
		default:
			return nil, fmt.Errorf("resource %s: type %q: the emulator provisions %s, %s and %s", id, r.Type, resThing, resCertificate, resPolicy)
		}
	}
	if counts[resCertificate] != 1 {
		return nil, fmt.Errorf("want one %s resource with CertificateId {\"Ref\": \"AWS::IoT::Certificate::Id\"}, found %d", resCertificate, counts[resCertificate])
	}
	if counts[resThing] > 1 {
		return nil, fmt.Errorf("%d %s resources: a template provisions one thing", counts[resThing], resThing)
	}
	if err := t.check(t.config); err != nil {
		return nil, fmt.Errorf("DeviceConfiguration: %v", err)
	}
	return t, nil
}

// check walks a value for intrinsic functions the emulator does not know
// and Refs to parameters the template does not declare.
func (t *template) check(v any) error {
	switch v := v.(type) {
	case map[string]any:
		if fn, arg, ok := intrinsic(v); ok {
			switch fn {
			case "Ref":
				s, ok := arg.(string)
				if !ok {
					return errors.New("Ref takes a parameter name")
				}
				if _, ok := t.params[s]; !ok && !strings.HasPrefix(s, certParamPrefix) {
					return fmt.Errorf("Ref %s: no such parameter in Parameters", s)
				}
				return nil
			case "Fn::Join", "Fn::Split", "Fn::Select":
				args, ok := arg.([]any)
				if !ok || len(args) != 2 {
					return fmt.Errorf("%s takes a list of two arguments", fn)
				}
				return t.check(args)
			}
			return fmt.Errorf("%s: the emulator evaluates Ref, Fn::Join, Fn::Split and Fn::Select", fn)
		}
		for _, k := range sortedKeys(v) {
			if err := t.check(v[k]); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := t.check(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// intrinsic recognises {"Ref": …} and {"Fn::…": …}.
func intrinsic(m map[string]any) (string, any, bool) {
	if len(m) != 1 {
		return "", nil, false
	}
	for k, v := range m {
		if k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k, v, true
		}
	}
	return "", nil, false
}

func hasIntrinsic(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if _, _, ok := intrinsic(v); ok {
			return true
		}
		for _, x := range v {
			if hasIntrinsic(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasIntrinsic(x) {
				return true
			}
		}
	}
	return false
}

// errParam is a rejection of RegisterThing's parameters.
func errParam(format string, a ...any) *provError {
	return &provError{400, "InvalidParameters", fmt.Sprintf(format, a...)}
}

// values are the parameter values of one RegisterThing: the request's,
// the hook's overrides, the defaults and the certificate's.
type values map[string]string

// resolve is the value of a parameter.
func (t *template) resolve(vals values, name string) (string, *provError) {
	if v, ok := vals[name]; ok {
		if p, declared := t.params[name]; declared && p.Type == "Number" {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return "", errParam("Parameter %s is not a number: %q", name, v)
			}
		}
		return v, nil
	}
	if p, ok := t.params[name]; ok && p.Default != nil {
		s, _ := scalar(p.Default)
		return s, nil
	}
	return "", errParam("Missing value for parameter %s: give it in parameters or as its Default", name)
}

// eval evaluates the intrinsic functions in v.
func (t *template) eval(vals values, v any) (any, *provError) {
	switch v := v.(type) {
	case map[string]any:
		if fn, arg, ok := intrinsic(v); ok {
			return t.call(vals, fn, arg)
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := t.eval(vals, x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := t.eval(vals, x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	}
	return v, nil
}

func (t *template) call(vals values, fn string, arg any) (any, *provError) {
	if fn == "Ref" {
		return t.resolve(vals, arg.(string))
	}
	a, err := t.eval(vals, arg)
	if err != nil {
		return nil, err
	}
	args := a.([]any)
	switch fn {
	case "Fn::Join":
		sep, ok := args[0].(string)
		list, ok2 := args[1].([]any)
		if !ok || !ok2 {
			return nil, errParam("Fn::Join takes a delimiter and a list")
		}
		parts := make([]string, len(list))
		for i, x := range list {
			if parts[i], ok = scalar(x); !ok {
				return nil, errParam("Fn::Join: item %d is not a string", i)
			}
		}
		return strings.Join(parts, sep), nil
	case "Fn::Split":
		sep, ok := args[0].(string)
		s, ok2 := scalar(args[1])
		if !ok || !ok2 || sep == "" {
			return nil, errParam("Fn::Split takes a delimiter and a string")
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	default: // Fn::Select
		is, ok := scalar(args[0])
		list, ok2 := args[1].([]any)
		i, err := strconv.Atoi(is)
		if !ok || !ok2 || err != nil {
			return nil, errParam("Fn::Select takes an index and a list")
		}
		if i < 0 || i >= len(list) {
			return nil, errParam("Fn::Select: index %d is out of a list of %d", i, len(list))
		}
		return list[i], nil
	}
}

// scalar is a string or number as a string.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// policyText is a PolicyDocument as policy JSON text: a string holds it,
// an object is it.
func policyText(doc any) ([]byte, error) {
	var text []byte
	if s, ok := doc.(string); ok {
		text = []byte(s)
	} else {
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		text = b
	}
	if err := policy.CheckSize(text); err != nil {
		return nil, err
	}
	if _, err := policy.Parse(text); err != nil {
		return nil, err
	}
	return text, nil
}

// plan is what one RegisterThing does, evaluated.
type plan struct {
	thing      *Thing // nil: the template has no Thing
	certID     string
	certStatus string // ACTIVE or INACTIVE
	policies   []planPolicy
	config     map[string]any
}

type planPolicy struct {
	name string // "" for an inline document
	text []byte
}

// evaluate turns the template into a plan for the certificate certID.
func (t *template) evaluate(vals values, named map[string]namedPolicy, certID string) (*plan, *provError) {
	p := &plan{certID: certID, certStatus: "ACTIVE"}
	str := func(id, prop string, v any) (string, *provError) {
		x, err := t.eval(vals, v)
		if err != nil {
			return "", err
		}
		s, ok := scalar(x)
		if !ok {
			return "", errParam("Resource %s: %s is not a string", id, prop)
		}
		return s, nil
	}
	for _, id := range sortedKeys(t.resources) {
		r := t.resources[id]
		props := r.Properties
		switch r.Type {
		case resThing:
			name, err := str(id, "ThingName", props["ThingName"])
			if err != nil {
				return nil, err
			}
			if !validShadowName(name, MaxThingNameBytes) {
				return nil, errParam("Thing name %q is not 1 to %d characters of a-z A-Z 0-9 : _ -", name, MaxThingNameBytes)
			}
			th := &Thing{Name: name, Principal: PrefixCert + certID}
			if ap, ok := props["AttributePayload"]; ok {
				x, err := t.eval(vals, ap)
				if err != nil {
					return nil, err
				}
				m, ok := x.(map[string]any)
				if !ok {
					return nil, errParam("Resource %s: AttributePayload is not an object", id)
				}
				th.Attributes = map[string]string{}
				for k, v := range m {
					s, ok := scalar(v)
					if !ok {
						return nil, errParam("Resource %s: attribute %s is not a string", id, k)
					}
					th.Attributes[k] = s
				}
			}
			p.thing = th
		case resCertificate:
			got, err := str(id, "CertificateId", props["CertificateId"])
			if err != nil {
				return nil, err
			}
			if got != certID {
				return nil, errParam("Resource %s: CertificateId %q is not the certificate being provisioned", id, got)
			}
			if st, ok := props["Status"]; ok {
				s, err := str(id, "Status", st)
				if err != nil {
					return nil, err
				}
				switch strings.ToUpper(s) {
				case "ACTIVE", "INACTIVE":
					p.certStatus = strings.ToUpper(s)
				default:
					return nil, errParam("Resource %s: Status %q: want ACTIVE or INACTIVE", id, s)
				}
			}
		case resPolicy:
			if pn, ok := props["PolicyName"].(string); ok {
				p.policies = append(p.policies, planPolicy{name: pn, text: named[pn].text})
				continue
			}
			doc, err := t.eval(vals, props["PolicyDocument"])
			if err != nil {
				return nil, err
			}
			text, perr := policyText(doc)
			if perr != nil {
				return nil, errParam("Resource %s: PolicyDocument: %v", id, perr)
			}
			p.policies = append(p.policies, planPolicy{text: text})
		}
	}
	if t.config != nil {
		c, err := t.eval(vals, t.config)
		if err != nil {
			return nil, err
		}
		m, ok := c.(map[string]any)
		if !ok {
			return nil, errParam("DeviceConfiguration is not an object")
		}
		p.config = m
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
