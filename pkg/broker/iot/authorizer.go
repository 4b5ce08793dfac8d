package iot

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/iotctl/iotctl/internal/procgroup"
	"github.com/iotctl/iotctl/pkg/policy"
)

// AuthorizerEvent is what a custom authorizer command reads on stdin: the
// event IoT Core hands to an authorizer Lambda for an MQTT connection.
type AuthorizerEvent struct {
	Token              string             `json:"token,omitempty"`
	SignatureVerified  bool               `json:"signatureVerified"`
	Protocols          []string           `json:"protocols"`
	ProtocolData       ProtocolData       `json:"protocolData"`
	ConnectionMetadata ConnectionMetadata `json:"connectionMetadata"`
}

// ProtocolData holds what each protocol of the connection carried.
type ProtocolData struct {
	TLS  *TLSData  `json:"tls,omitempty"`
	HTTP *HTTPData `json:"http,omitempty"`
	MQTT *MQTTData `json:"mqtt,omitempty"`
}

// TLSData is the TLS part: the SNI server name ("" when none was sent).
type TLSData struct {
	ServerName string `json:"serverName"`
}

// HTTPData is the websocket upgrade request.
type HTTPData struct {
	Headers     map[string]string `json:"headers"`
	QueryString string            `json:"queryString"`
}

// MQTTData is the CONNECT: the full username (authorizer parameters
// included, as IoT Core passes it), the password base64-encoded (absent
// when CONNECT had none) and the client ID.
type MQTTData struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	ClientID string `json:"clientId"`
}

// ConnectionMetadata identifies the connection.
type ConnectionMetadata struct {
	ID string `json:"id"`
}

// AuthorizerResponse is what the command prints on stdout: the Lambda
// response of an IoT Core custom authorizer. PolicyDocuments are JSON
// strings, as IoT Core requires; policy objects are accepted too.
type AuthorizerResponse struct {
	IsAuthenticated          bool              `json:"isAuthenticated"`
	PrincipalID              string            `json:"principalId"`
	DisconnectAfterInSeconds int64             `json:"disconnectAfterInSeconds"`
	RefreshAfterInSeconds    int64             `json:"refreshAfterInSeconds"`
	PolicyDocuments          []json.RawMessage `json:"policyDocuments"`
}

// IoT Core's rules for an authorizer's answer.
// Compiled at first use; the length is checked apart (a {1,128} repetition
// compiles into 128 copies of the class).
var principalIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]+$`) })

const maxAuthorizerPolicies = 10

// authorized is a custom authorizer's verdict, checked.
type authorized struct {
	principalID     string
	docs            []*policy.Document
	disconnectAfter time.Duration
}

// errNotAuthenticated is an answer of isAuthenticated false.
var errNotAuthenticated = errors.New("the authorizer answered isAuthenticated false")

// runAuthorizer runs the command with the event and checks its answer.
func (e *Emulator) runAuthorizer(ctx context.Context, a Authorizer, ev AuthorizerEvent) (authorized, error) {
	in, err := json.Marshal(ev)
	if err != nil {
		return authorized{}, err
	}
	out, err := runCommand(ctx, a.Command, in, AuthorizerTimeout)
	if err != nil {
		return authorized{}, err
	}
	var resp AuthorizerResponse
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&resp); err != nil {
		return authorized{}, fmt.Errorf("its stdout is not an authorizer response (JSON with isAuthenticated, principalId, policyDocuments): %v", err)
	}
	return checkResponse(resp)
}

func checkResponse(resp AuthorizerResponse) (authorized, error) {
	if !resp.IsAuthenticated {
		return authorized{}, errNotAuthenticated
	}
	if len(resp.PrincipalID) > 128 || !principalIDRE().MatchString(resp.PrincipalID) {
		return authorized{}, fmt.Errorf("principalId %q is not 1 to 128 letters and digits, as IoT Core requires", resp.PrincipalID)
	}
	if len(resp.PolicyDocuments) > maxAuthorizerPolicies {
		return authorized{}, fmt.Errorf("%d policy documents: IoT Core takes at most %d", len(resp.PolicyDocuments), maxAuthorizerPolicies)
	}
	if resp.DisconnectAfterInSeconds < 0 {
		return authorized{}, fmt.Errorf("disconnectAfterInSeconds %d is negative", resp.DisconnectAfterInSeconds)
	}
	out := authorized{principalID: resp.PrincipalID, disconnectAfter: time.Duration(resp.DisconnectAfterInSeconds) * time.Second}
	for i, raw := range resp.PolicyDocuments {
		text := []byte(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			text = []byte(s)
		}
		if err := policy.CheckSize(text); err != nil {
			return authorized{}, fmt.Errorf("policy document %d: %v", i+1, err)
		}
		doc, err := policy.Parse(text)
		if err != nil {
			return authorized{}, fmt.Errorf("policy document %d: %v", i+1, err)
		}
		out.docs = append(out.docs, doc)
	}
	return out, nil
}

// runCommand runs a local command standing in for a Lambda (custom
// authorizers, pre-provisioning hooks): the event on stdin, the answer on
// stdout, at most timeout. An error says why, with the start of stderr.
func runCommand(ctx context.Context, line string, in []byte, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := shellCommand(ctx, line)
	procgroup.OwnContext(cmd) // a timeout or the broker's close kills what it started too
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = 1<<20, 4<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", timeout)
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w; its stderr: %s", err, msg)
		}
		return nil, fmt.Errorf("command failed: %w", err)
	}
	return stdout.Bytes(), nil
}

// shellCommand runs a command line the way a user typed it: sh -c on
// Unix, cmd /C on Windows.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	if runtime.GOOS == "windows" {
		return exec.CommandContext(ctx, "cmd", "/C", line)
	}
	return exec.CommandContext(ctx, "sh", "-c", line)
}

// limitedBuffer keeps the first max bytes written and discards the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// verifyTokenSignature checks the token signature of a signing authorizer:
// base64 of RSA PKCS#1 v1.5 over SHA-256 of the token value.
func verifyTokenSignature(key *rsa.PublicKey, token, signature string) error {
	if token == "" || signature == "" {
		return errors.New("the authorizer requires a signed token: the username has no token or no x-amz-customauthorizer-signature")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return errors.New("the token signature is not base64")
	}
	sum := sha256.Sum256([]byte(token))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("the token signature does not verify with the authorizer's public key")
	}
	return nil
}

// LoadPublicKey reads an RSA public key, PEM "PUBLIC KEY" (PKIX), "RSA
// PUBLIC KEY" (PKCS#1) or a CERTIFICATE: a custom authorizer's token
// signing key.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var pub any
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s block: %v", path, b.Type, err)
		}
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: a %T, not an RSA public key: IoT Core token signing keys are RSA", path, pub)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%s: no PEM PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE in it", path)
}
