package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// STS is a fake STS answering GetCallerIdentity (query protocol, XML).
type STS struct {
	// URL is the endpoint to give the client (--sts-endpoint).
	URL string
	// Account, Arn and UserID are the identity every caller gets.
	Account, Arn, UserID string

	mu    sync.Mutex
	calls []STSCall
}

// STSCall is one request as received: the access key ID and region from
// its SigV4 Authorization header.
type STSCall struct {
	AccessKeyID, Region, Service string
	HasSessionToken              bool
}

// Calls returns the requests received so far.
func (s *STS) Calls() []STSCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]STSCall(nil), s.calls...)
}

// NewSTS starts a fake STS on 127.0.0.1, closed when the test ends. It
// refuses unsigned requests as STS does; it does not check signatures.
// The user ID is derived from the ARN (AROA…:session for assumed roles).
func NewSTS(t testing.TB, account, arn string) *STS {
	t.Helper()
	s := &STS{Account: account, Arn: arn, UserID: "AIDAIOTCTLFAKEUSER"}
	if _, session, ok := strings.Cut(arn, ":assumed-role/"); ok {
		if i := strings.LastIndex(session, "/"); i >= 0 {
			session = session[i+1:]
		}
		s.UserID = "AROAIOTCTLFAKEROLE:" + session
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeSTSError(w, http.StatusBadRequest, "MalformedInput", err.Error())
			return
		}
		if a := r.Form.Get("Action"); a != "GetCallerIdentity" {
			writeSTSError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("fake STS serves only GetCallerIdentity, not %q", a))
			return
		}
		call, ok := parseAuthorization(r.Header.Get("Authorization"))
		if !ok {
			writeSTSError(w, http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
			return
		}
		call.HasSessionToken = r.Header.Get("X-Amz-Security-Token") != ""
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>%s</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`, xmlEscape(s.Arn), xmlEscape(s.UserID), xmlEscape(s.Account))
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, …".
func parseAuthorization(h string) (STSCall, bool) {
	_, rest, ok := strings.Cut(h, "Credential=")
	if !ok || !strings.HasPrefix(h, "AWS4-HMAC-SHA256 ") {
		return STSCall{}, false
	}
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return STSCall{}, false
	}
	return STSCall{AccessKeyID: parts[0], Region: parts[2], Service: parts[3]}, true
}

func writeSTSError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>
  <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>
</ErrorResponse>
`, xmlEscape(code), xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
