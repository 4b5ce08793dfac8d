package iot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// jobsError is a rejection: the body of …/rejected.
type jobsError struct {
	code    string
	message string
	// state is the execution's state, sent with VersionMismatch and
	// InvalidStateTransition.
	state map[string]any
}

func (e *jobsError) Error() string { return e.code + ": " + e.message }

func invalidRequest(format string, args ...any) *jobsError {
	return &jobsError{code: "InvalidRequest", message: fmt.Sprintf(format, args...)}
}

// jobsRequest is a parsed request body; has* tell which fields were sent.
type jobsRequest struct {
	clientToken    string
	hasToken       bool
	status         string
	statusDetails  map[string]string
	hasDetails     bool
	expected       int64
	hasExpected    bool
	execNumber     int64
	hasExecNumber  bool
	includeDoc     bool
	hasIncludeDoc  bool
	includeState   bool
	stepTimeout    int64
	hasStepTimeout bool
}

// parseJobsRequest reads a request body for operation op (get,
// start-next, describe, update). An empty body is an empty request.
// Fields that do not belong to op are ignored.
func parseJobsRequest(payload []byte, op string) (*jobsRequest, *jobsError) {
	req := &jobsRequest{}
	if !utf8.Valid(payload) {
		return req, &jobsError{code: "InvalidJson", message: "The request is not UTF-8 encoded JSON"}
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		if op == "update" {
			return req, invalidRequest("Missing required field: status")
		}
		return req, nil
	}
	v, err := decodeJSON(payload)
	if err != nil {
		return req, &jobsError{code: "InvalidJson", message: "The request is not valid JSON: " + err.Error()}
	}
	top, ok := v.(map[string]any)
	if !ok {
		return req, &jobsError{code: "InvalidJson", message: "The request must be a JSON object"}
	}
	// The client token first, so that a rejection can echo it.
	if t, ok := top["clientToken"]; ok {
		s, isString := t.(string)
		if !isString || s == "" || len(s) > MaxJobClientToken || !printableASCII(s) {
			return req, invalidRequest("clientToken must be a string of 1 to %d printable ASCII characters", MaxJobClientToken)
		}
		req.clientToken, req.hasToken = s, true
	}
	if op == "get" {
		return req, nil
	}
	if op == "describe" || op == "update" {
		if n, ok := top["executionNumber"]; ok {
			if req.execNumber, ok = integer(n); !ok || req.execNumber < 1 {
				return req, invalidRequest("executionNumber must be a positive integer")
			}
			req.hasExecNumber = true
		}
		if b, ok := top["includeJobDocument"]; ok {
			if req.includeDoc, ok = b.(bool); !ok {
				return req, invalidRequest("includeJobDocument must be true or false")
			}
			req.hasIncludeDoc = true
		}
	}
	if op == "describe" {
		return req, nil
	}
	if d, ok := top["statusDetails"]; ok && d != nil {
		details, jerr := parseStatusDetails(d)
		if jerr != nil {
			return req, jerr
		}
		req.statusDetails, req.hasDetails = details, true
	}
	if n, ok := top["stepTimeoutInMinutes"]; ok && n != nil {
		m, isInt := integer(n)
		switch {
		case !isInt:
			return req, invalidRequest("stepTimeoutInMinutes must be an integer")
		case m == -1 && op == "update":
		case m < 1 || m > MaxStepTimeoutMinutes:
			extra := ""
			if op == "update" {
				extra = ", or -1 to cancel the step timer"
			}
			return req, invalidRequest("stepTimeoutInMinutes must be 1 to %d%s", MaxStepTimeoutMinutes, extra)
		}
		req.stepTimeout, req.hasStepTimeout = m, true
	}
	if op == "start-next" {
		return req, nil
	}
	st, ok := top["status"]
	if !ok {
		return req, invalidRequest("Missing required field: status")
	}
	if req.status, ok = st.(string); !ok || !deviceStatus(req.status) {
		return req, invalidRequest("status must be IN_PROGRESS, SUCCEEDED, FAILED or REJECTED")
	}
	if n, ok := top["expectedVersion"]; ok && n != nil {
		if req.expected, ok = integer(n); !ok || req.expected < 0 {
			return req, invalidRequest("expectedVersion must be a non-negative integer")
		}
		req.hasExpected = true
	}
	if b, ok := top["includeJobExecutionState"]; ok {
		if req.includeState, ok = b.(bool); !ok {
			return req, invalidRequest("includeJobExecutionState must be true or false")
		}
	}
	return req, nil
}

// parseStatusDetails checks statusDetails: a map of names of 1 to 128
// characters of a-z A-Z 0-9 : _ - to strings of 1 to 1024 characters
// without control characters.
func parseStatusDetails(v any) (map[string]string, *jobsError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidRequest("statusDetails must be an object of string values")
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			return nil, invalidRequest("statusDetails.%s must be a string", k)
		}
		if !validShadowName(k, MaxStatusDetailsKey) {
			return nil, invalidRequest("statusDetails key %q: a key is 1 to %d characters of a-z A-Z 0-9 : _ -", k, MaxStatusDetailsKey)
		}
		if s == "" || utf8.RuneCountInString(s) > MaxStatusDetailsValue || hasControl(s) {
			return nil, invalidRequest("statusDetails.%s: a value is 1 to %d characters, no control characters", k, MaxStatusDetailsValue)
		}
		out[k] = s
	}
	return out, nil
}

// integer is n as an int64 when it is a JSON integer.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.C, r) {
			return true
		}
	}
	return false
}

// validJobID: 1 to 64 characters of a-z A-Z 0-9 _ -.
func validJobID(s string) bool {
	if s == "" || len(s) > MaxJobIDBytes {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
