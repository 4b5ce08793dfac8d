// Package awsfake serves the few AWS APIs iotctl calls, on loopback
// httptest servers, speaking each service's wire protocol so the real
// aws-sdk-go-v2 clients talk to them unchanged.
package awsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// GetCredentialsForIdentityInput is a request as Cognito received it.
type GetCredentialsForIdentityInput struct {
	IdentityId    string
	Logins        map[string]string `json:",omitempty"`
	CustomRoleArn string            `json:",omitempty"`
	// Signed is true when the request carried an Authorization header
	// (iotctl's calls are unsigned).
	Signed bool `json:"-"`
}

// CognitoCredentials are what GetCredentialsForIdentity hands out.
type CognitoCredentials struct {
	AccessKeyID, SecretKey, SessionToken string
	Expiration                           time.Time
}

// APIError is an awsJson1_1 error reply: {"__type": Type, "message": Message}.
type APIError struct {
	Status  int // 400 when 0
	Type    string
	Message string
}

func (e *APIError) Error() string { return e.Type + ": " + e.Message }

// CognitoHandler answers one GetCredentialsForIdentity call. Return an
// *APIError for a service error; any other error is a 500.
type CognitoHandler func(in GetCredentialsForIdentityInput) (CognitoCredentials, error)

// Cognito is a fake Cognito Identity service.
type Cognito struct {
	// URL is the endpoint to give the client (--cognito-endpoint).
	URL string

	mu    sync.Mutex
	calls []GetCredentialsForIdentityInput
}

// Calls returns the requests received so far.
func (c *Cognito) Calls() []GetCredentialsForIdentityInput {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]GetCredentialsForIdentityInput(nil), c.calls...)
}

// NewCognito starts a fake Cognito Identity endpoint on 127.0.0.1, closed
// when the test ends. Only GetCredentialsForIdentity is served.
func NewCognito(t testing.TB, h CognitoHandler) *Cognito {
	t.Helper()
	c := &Cognito{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if r.Method != http.MethodPost || target != "AWSCognitoIdentityService.GetCredentialsForIdentity" {
			writeJSONError(w, &APIError{Type: "UnknownOperationException", Message: fmt.Sprintf("fake Cognito serves only GetCredentialsForIdentity, not %s %q", r.Method, target)})
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			writeJSONError(w, &APIError{Type: "SerializationException", Message: "Content-Type " + ct + " is not application/x-amz-json-1.1"})
			return
		}
		body, err := io.ReadAll(r.Body)
		var in GetCredentialsForIdentityInput
		if err == nil {
			err = json.Unmarshal(body, &in)
		}
		if err != nil {
			writeJSONError(w, &APIError{Type: "SerializationException", Message: err.Error()})
			return
		}
		in.Signed = r.Header.Get("Authorization") != ""
		in.Logins = maps.Clone(in.Logins)
		c.mu.Lock()
		c.calls = append(c.calls, in)
		c.mu.Unlock()

		creds, err := h(in)
		if err != nil {
			ae, ok := err.(*APIError)
			if !ok {
				ae = &APIError{Status: http.StatusInternalServerError, Type: "InternalErrorException", Message: err.Error()}
			}
			writeJSONError(w, ae)
			return
		}
		out := map[string]any{
			"IdentityId": in.IdentityId,
			"Credentials": map[string]any{
				"AccessKeyId":  creds.AccessKeyID,
				"SecretKey":    creds.SecretKey,
				"SessionToken": creds.SessionToken,
				"Expiration":   float64(creds.Expiration.UnixMilli()) / 1000,
			},
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func writeJSONError(w http.ResponseWriter, e *APIError) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.Type, "message": e.Message})
}

// Identity is one identity of a fake identity pool.
type Identity struct {
	// Logins the identity needs, provider → token; nil: unauthenticated.
	Logins map[string]string
	// Credentials returns the credentials of one call.
	Credentials func() CognitoCredentials
}

// Identities is a handler for a fixed set of identities: an unknown ID is
// ResourceNotFoundException, logins that differ from the identity's are
// NotAuthorizedException, as Cognito answers.
func Identities(ids map[string]Identity) CognitoHandler {
	return func(in GetCredentialsForIdentityInput) (CognitoCredentials, error) {
		id, ok := ids[in.IdentityId]
		if !ok {
			return CognitoCredentials{}, &APIError{Type: "ResourceNotFoundException", Message: "Identity '" + in.IdentityId + "' not found."}
		}
		if len(id.Logins) == 0 && len(in.Logins) == 0 {
			return id.Credentials(), nil
		}
		if len(in.Logins) == 0 {
			return CognitoCredentials{}, &APIError{Type: "NotAuthorizedException", Message: "Unauthenticated access is not supported for this identity pool."}
		}
		if !maps.Equal(id.Logins, in.Logins) {
			return CognitoCredentials{}, &APIError{Type: "NotAuthorizedException", Message: "Invalid login token."}
		}
		return id.Credentials(), nil
	}
}
