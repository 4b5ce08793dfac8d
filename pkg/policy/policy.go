// Package policy is the AWS IoT policy model: parse a policy document,
// evaluate documents against an action on a resource (for `policy check`
// and the broker's IoT Core emulation) and generate least-privilege policies.
//
// Matching follows AWS IoT: IAM-style `*` and `?` wildcards, MQTT `+` and
// `#` as literal characters, policy variables substituted from the
// connection, explicit Deny over Allow.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Version is the policy language version that enables policy variables.
const Version = "2012-10-17"

// versionOld is IAM's original language version: no policy variables.
const versionOld = "2008-10-17"

// Effect is a statement's effect, or a decision's.
type Effect string

const (
	Allow        Effect = "Allow"
	Deny         Effect = "Deny"
	ImplicitDeny Effect = "ImplicitDeny" // a Decision only: nothing allowed it
)

// Document is an AWS IoT policy document. Policy variables and the ${*}
// escapes are read only when Version is 2012-10-17 (Version constant);
// without it, as in IAM, ${…} is plain text.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement. Action and Resource may be a string or a
// list in JSON; they are always written as lists.
type Statement struct {
	Sid      string   `json:"Sid,omitempty"`
	Effect   Effect   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// unsupported are statement keys iotctl refuses rather than ignores:
// ignoring a Condition would make a check say ALLOW where IoT says no.
var unsupported = map[string]bool{
	"NotAction": true, "NotResource": true, "Condition": true,
	"Principal": true, "NotPrincipal": true,
}

// Parse reads a policy document. Its errors name the statement and the
// element at fault.
func Parse(data []byte) (*Document, error) {
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, jsonError(data, err)
	}
	if dec.More() {
		return nil, errors.New("invalid policy JSON: text after the document")
	}
	return &d, nil
}

// variables reports whether the document's language version substitutes
// policy variables; with 2008-10-17 (IAM's default when Version is
// missing) `${…}` is plain text.
func (d *Document) variables() bool { return d.Version == Version }

// UnmarshalJSON reads a document, rejecting unknown keys.
func (d *Document) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return errors.New("policy document must be a JSON object")
	}
	for _, k := range sortedKeys(raw) {
		switch k {
		case "Version", "Statement", "Id":
		default:
			return fmt.Errorf("policy document: unknown key %q (want Version, Statement)", k)
		}
	}
	*d = Document{}
	if v, ok := raw["Version"]; ok {
		if err := json.Unmarshal(v, &d.Version); err != nil {
			return errors.New("policy Version must be a string")
		}
		if d.Version != Version && d.Version != versionOld {
			return fmt.Errorf("policy Version %q is not %s", d.Version, Version)
		}
	}
	st, ok := raw["Statement"]
	if !ok {
		return errors.New("policy document has no Statement")
	}
	var list []json.RawMessage
	if trimmed := bytes.TrimSpace(st); len(trimmed) > 0 && trimmed[0] == '{' {
		list = []json.RawMessage{st}
	} else if err := json.Unmarshal(st, &list); err != nil {
		return errors.New("policy Statement must be an object or a list of objects")
	}
	if len(list) == 0 {
		return errors.New("policy Statement is empty")
	}
	for i, s := range list {
		var stmt Statement
		if err := json.Unmarshal(s, &stmt); err != nil {
			return fmt.Errorf("policy Statement[%d]: %w", i, err)
		}
		d.Statement = append(d.Statement, stmt)
	}
	return nil
}

// UnmarshalJSON reads one statement and checks it.
func (s *Statement) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return errors.New("a statement must be a JSON object")
	}
	*s = Statement{}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		var err error
		switch {
		case k == "Sid":
			err = json.Unmarshal(v, &s.Sid)
		case k == "Effect":
			err = json.Unmarshal(v, &s.Effect)
		case k == "Action":
			s.Action, err = stringList(v)
		case k == "Resource":
			s.Resource, err = stringList(v)
		case unsupported[k]:
			return fmt.Errorf("%s is not supported by iotctl: rewrite the statement with Action and Resource only", k)
		default:
			return fmt.Errorf("unknown key %q (want Sid, Effect, Action, Resource)", k)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return s.check()
}

func (s *Statement) check() error {
	if s.Effect != Allow && s.Effect != Deny {
		return fmt.Errorf("Effect %q must be Allow or Deny", s.Effect)
	}
	if len(s.Action) == 0 {
		return errors.New("Action is missing or empty")
	}
	if len(s.Resource) == 0 {
		return errors.New("Resource is missing or empty")
	}
	for _, a := range s.Action {
		if a != "*" && !strings.Contains(a, ":") {
			return fmt.Errorf("Action %q is not service:action (like iot:Publish) or *", a)
		}
	}
	for _, r := range s.Resource {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return fmt.Errorf("Resource %q is not an ARN (arn:aws:iot:REGION:ACCOUNT:topic/…) or *", r)
		}
	}
	return nil
}

// stringList reads a JSON string or list of strings.
func stringList(v json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(v, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, errors.New("must be a string or a list of strings")
	}
	for _, x := range list {
		if x == "" {
			return nil, errors.New("has an empty string")
		}
	}
	return list, nil
}

// JSON renders the document with a 2-space indent, `<>&` unescaped, and a
// final newline.
func (d *Document) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// jsonError adds the line and column to a JSON syntax error.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return fmt.Errorf("invalid policy JSON at line %d, column %d: %v", line, col, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("invalid policy JSON: %v", typ)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("invalid policy JSON: the document is empty")
	}
	return err
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
