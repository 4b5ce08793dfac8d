package auth

import (
	"net/url"
	"strings"

	"github.com/iotctl/iotctl/pkg/errs"
)

// Query parameters of the custom-authorizer CONNECT username.
const (
	customAuthNameParam      = "x-amz-customauthorizer-name"
	customAuthSignatureParam = "x-amz-customauthorizer-signature"
	metricsSDKParam          = "SDK"
	metricsVersionParam      = "Version"
	metricsSDK               = "iotctl"
)

// CustomAuthUsername builds the CONNECT username AWS IoT Core passes to a
// custom authorizer, as the AWS IoT Device SDKs do: base, then
// x-amz-customauthorizer-name, the token and the URL-encoded signature as
// query parameters (the first after '?', or after '&' when base already has
// a '?'), and with metrics SDK=iotctl&Version=<version> last. The token key
// name, value and signature come all three or none. Errors never show the
// token value or the signature.
func CustomAuthUsername(base, authorizerName, tokenKeyName, tokenValue, tokenSignature string, metrics bool, version string) (string, error) {
	var missing []string
	for _, f := range []struct{ flag, v string }{{"--token-key-name", tokenKeyName}, {"--token-value", tokenValue}, {"--token-signature", tokenSignature}} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	signed := len(missing) == 0
	if len(missing) == 1 || len(missing) == 2 {
		return "", errs.Usagef("custom authorizer token: %s missing: give --token-key-name, --token-value and --token-signature together, or none of them", strings.Join(missing, " and "))
	}
	if strings.ContainsAny(authorizerName, "&#") {
		return "", errs.Usagef("custom authorizer name %q contains & or #: URL-encode it", authorizerName)
	}
	var params []string
	if authorizerName != "" {
		params = append(params, customAuthNameParam+"="+authorizerName)
	}
	if signed {
		switch {
		case strings.ContainsAny(tokenKeyName, "&=#"):
			return "", errs.Usagef("custom authorizer token key name %q contains &, = or #: URL-encode it", tokenKeyName)
		case isReservedCustomAuthKey(tokenKeyName):
			return "", errs.Usagef("custom authorizer token key name %q is reserved: choose the key name the authorizer was created with", tokenKeyName)
		case strings.ContainsAny(tokenValue, "&#"):
			return "", errs.Usagef("custom authorizer token value contains & or #: URL-encode it")
		}
		sig := tokenSignature
		if strings.Contains(sig, "%") {
			if _, err := url.QueryUnescape(sig); err != nil || strings.ContainsAny(sig, "&#") {
				return "", errs.Usagef("custom authorizer token signature contains %% but is not valid URL encoding: give the base64 signature as is")
			}
		} else {
			sig = url.QueryEscape(sig)
		}
		params = append(params, tokenKeyName+"="+tokenValue, customAuthSignatureParam+"="+sig)
	}
	if metrics {
		params = append(params, metricsSDKParam+"="+metricsSDK, metricsVersionParam+"="+url.QueryEscape(version))
	}
	if len(params) == 0 {
		return base, nil
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + strings.Join(params, "&"), nil
}

func isReservedCustomAuthKey(k string) bool {
	switch k {
	case customAuthNameParam, customAuthSignatureParam, metricsSDKParam, metricsVersionParam:
		return true
	}
	return false
}

// CustomAuthParams is a custom-authorizer username taken apart.
type CustomAuthParams struct {
	Base           string
	AuthorizerName string
	TokenKeyName   string
	TokenValue     string
	Signature      string // URL-decoded
	// SDK and Version are the metrics suffix, when present.
	SDK     string
	Version string
}

// ParseCustomAuthUsername takes apart a username built like
// CustomAuthUsername's. The parameters after the first '?' are read: the
// name and signature by their keys, the metrics as the last two parameters
// SDK and Version, and the token is the other parameter: the one just
// before the signature, or, unsigned, the first one after the name. Other
// parameters belong to the base, which is returned as the client wrote it.
func ParseCustomAuthUsername(username string) (CustomAuthParams, error) {
	var p CustomAuthParams
	i := strings.IndexByte(username, '?')
	if i < 0 {
		p.Base = username
		return p, nil
	}
	type param struct{ key, value, raw string }
	var params []param
	for _, r := range strings.Split(username[i+1:], "&") {
		k, v, _ := strings.Cut(r, "=")
		params = append(params, param{k, v, r})
	}
	if n := len(params); n >= 2 && params[n-2].key == metricsSDKParam && params[n-1].key == metricsVersionParam {
		p.SDK = params[n-2].value
		v, err := url.QueryUnescape(params[n-1].value)
		if err != nil {
			v = params[n-1].value
		}
		p.Version = v
		params = params[:n-2]
	}
	nameAt, sigAt, tokenAt := -1, -1, -1
	for j, prm := range params {
		switch prm.key {
		case customAuthNameParam:
			nameAt = j
		case customAuthSignatureParam:
			sigAt = j
		}
	}
	switch {
	case sigAt > 0 && !isReservedCustomAuthKey(params[sigAt-1].key):
		tokenAt = sigAt - 1
	case sigAt < 0 && nameAt >= 0 && nameAt+1 < len(params):
		tokenAt = nameAt + 1
	}
	var rest []string
	for j, prm := range params {
		switch j {
		case tokenAt:
			p.TokenKeyName, p.TokenValue = prm.key, prm.value
		case nameAt:
			p.AuthorizerName = prm.value
		case sigAt:
			sig, err := url.QueryUnescape(prm.value)
			if err != nil {
				return CustomAuthParams{}, errs.Usagef("custom authorizer username: the signature is not valid URL encoding")
			}
			p.Signature = sig
		default:
			rest = append(rest, prm.raw)
		}
	}
	p.Base = username[:i]
	if len(rest) > 0 {
		p.Base += "?" + strings.Join(rest, "&")
	}
	return p, nil
}
