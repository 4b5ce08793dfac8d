package auth

import (
	"context"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/iotctl/iotctl/internal/build"
	"github.com/iotctl/iotctl/pkg/errs"
)

type customUserCase struct {
	name                            string
	base, authName, key, value, sig string
	metrics                         bool
	version                         string
	want                            string
	wantParams                      CustomAuthParams
}

var customUserCases = []customUserCase{
	{
		name: "SDK example", base: "user1", authName: "myAuth", key: "tok", value: "abc", sig: "sig==",
		want:       "user1?x-amz-customauthorizer-name=myAuth&tok=abc&x-amz-customauthorizer-signature=sig%3D%3D",
		wantParams: CustomAuthParams{Base: "user1", AuthorizerName: "myAuth", TokenKeyName: "tok", TokenValue: "abc", Signature: "sig=="},
	},
	{
		name: "unsigned", base: "user1", authName: "myAuth",
		want:       "user1?x-amz-customauthorizer-name=myAuth",
		wantParams: CustomAuthParams{Base: "user1", AuthorizerName: "myAuth"},
	},
	{
		name: "no base", authName: "myAuth",
		want:       "?x-amz-customauthorizer-name=myAuth",
		wantParams: CustomAuthParams{AuthorizerName: "myAuth"},
	},
	{
		name: "base with ?", base: "user1?tenant=a", authName: "myAuth", key: "tok", value: "abc", sig: "sig==",
		want:       "user1?tenant=a&x-amz-customauthorizer-name=myAuth&tok=abc&x-amz-customauthorizer-signature=sig%3D%3D",
		wantParams: CustomAuthParams{Base: "user1?tenant=a", AuthorizerName: "myAuth", TokenKeyName: "tok", TokenValue: "abc", Signature: "sig=="},
	},
	{
		name: "signature needing encoding", base: "u", authName: "a", key: "k", value: "v", sig: "ab+/cd==",
		want:       "u?x-amz-customauthorizer-name=a&k=v&x-amz-customauthorizer-signature=ab%2B%2Fcd%3D%3D",
		wantParams: CustomAuthParams{Base: "u", AuthorizerName: "a", TokenKeyName: "k", TokenValue: "v", Signature: "ab+/cd=="},
	},
	{
		name: "signature already encoded", base: "u", authName: "a", key: "k", value: "v", sig: "ab%2B%2Fcd%3D%3D",
		want:       "u?x-amz-customauthorizer-name=a&k=v&x-amz-customauthorizer-signature=ab%2B%2Fcd%3D%3D",
		wantParams: CustomAuthParams{Base: "u", AuthorizerName: "a", TokenKeyName: "k", TokenValue: "v", Signature: "ab+/cd=="},
	},
	{
		name: "token without authorizer name (default authorizer)", base: "u", key: "k", value: "v", sig: "s",
		want:       "u?k=v&x-amz-customauthorizer-signature=s",
		wantParams: CustomAuthParams{Base: "u", TokenKeyName: "k", TokenValue: "v", Signature: "s"},
	},
	{
		name: "metrics last", base: "user1", authName: "myAuth", key: "tok", value: "abc", sig: "sig==", metrics: true, version: "v1.2.3",
		want:       "user1?x-amz-customauthorizer-name=myAuth&tok=abc&x-amz-customauthorizer-signature=sig%3D%3D&SDK=iotctl&Version=v1.2.3",
		wantParams: CustomAuthParams{Base: "user1", AuthorizerName: "myAuth", TokenKeyName: "tok", TokenValue: "abc", Signature: "sig==", SDK: "iotctl", Version: "v1.2.3"},
	},
	{
		name: "metrics only", base: "user1", metrics: true, version: "dev",
		want:       "user1?SDK=iotctl&Version=dev",
		wantParams: CustomAuthParams{Base: "user1", SDK: "iotctl", Version: "dev"},
	},
	{
		name: "metrics with base ?", base: "user1?", authName: "a", metrics: true, version: "v0.0.0-2026+x",
		want:       "user1?&x-amz-customauthorizer-name=a&SDK=iotctl&Version=v0.0.0-2026%2Bx",
		wantParams: CustomAuthParams{Base: "user1?", AuthorizerName: "a", SDK: "iotctl", Version: "v0.0.0-2026+x"},
	},
	{
		name: "token value with =", base: "u", authName: "a", key: "k", value: "dGVzdA==", sig: "s",
		want:       "u?x-amz-customauthorizer-name=a&k=dGVzdA==&x-amz-customauthorizer-signature=s",
		wantParams: CustomAuthParams{Base: "u", AuthorizerName: "a", TokenKeyName: "k", TokenValue: "dGVzdA==", Signature: "s"},
	},
	{
		name: "nothing", base: "plain",
		want:       "plain",
		wantParams: CustomAuthParams{Base: "plain"},
	},
}

func TestCustomAuthUsername(t *testing.T) {
	for _, tc := range customUserCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CustomAuthUsername(tc.base, tc.authName, tc.key, tc.value, tc.sig, tc.metrics, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("username\n got %s\nwant %s", got, tc.want)
			}
			p, err := ParseCustomAuthUsername(got)
			if err != nil {
				t.Fatal(err)
			}
			if p != tc.wantParams {
				t.Errorf("parsed %+v\n  want %+v", p, tc.wantParams)
			}
		})
	}
}

func TestCustomAuthUsernameErrors(t *testing.T) {
	const value, sig = "secret-token-value", "secret+signature=="
	for _, tc := range []struct {
		name             string
		key, value, sig  string
		authName         string
		missing, present []string
	}{
		{name: "key only", key: "tok", missing: []string{"--token-value", "--token-signature"}},
		{name: "value only", value: value, missing: []string{"--token-key-name", "--token-signature"}},
		{name: "signature only", sig: sig, missing: []string{"--token-key-name", "--token-value"}},
		{name: "no signature", key: "tok", value: value, missing: []string{"--token-signature"}, present: []string{"--token-key-name", "--token-value"}},
		{name: "no value", key: "tok", sig: sig, missing: []string{"--token-value"}},
		{name: "no key", value: value, sig: sig, missing: []string{"--token-key-name"}},
		{name: "reserved key", key: "x-amz-customauthorizer-name", value: value, sig: sig},
		{name: "key with =", key: "a=b", value: value, sig: sig},
		{name: "value with &", key: "k", value: value + "&x", sig: sig},
		{name: "bad encoded signature", key: "k", value: value, sig: "ab%zz"},
		{name: "name with &", authName: "a&b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CustomAuthUsername("u", tc.authName, tc.key, tc.value, tc.sig, true, "v1")
			wantKind(t, err, errs.Usage)
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, value) || strings.Contains(msg, sig) || strings.Contains(msg, "ab%zz") {
				t.Errorf("error %q shows the token or signature", msg)
			}
			missingPart, _, _ := strings.Cut(msg, "missing")
			for _, m := range tc.missing {
				if !strings.Contains(missingPart, m) {
					t.Errorf("error %q does not name %s as missing", msg, m)
				}
			}
			for _, m := range tc.present {
				if strings.Contains(missingPart, m) {
					t.Errorf("error %q names %s as missing", msg, m)
				}
			}
		})
	}
}

func TestParseCustomAuthUsername(t *testing.T) {
	for in, want := range map[string]CustomAuthParams{
		"":                                     {},
		"user":                                 {Base: "user"},
		"user?":                                {Base: "user?"},
		"u?a=b&c":                              {Base: "u?a=b&c"},
		"?x-amz-customauthorizer-name=n&tok=v": {AuthorizerName: "n", TokenKeyName: "tok", TokenValue: "v"},
		"u?x-amz-customauthorizer-name=n&x-amz-customauthorizer-signature=s": {Base: "u", AuthorizerName: "n", Signature: "s"},
		"u?SDK=IoTDeviceSDK/JS&Version=1.0":                                  {Base: "u", SDK: "IoTDeviceSDK/JS", Version: "1.0"},
	} {
		got, err := ParseCustomAuthUsername(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("ParseCustomAuthUsername(%q) = %+v, want %+v", in, got, want)
		}
	}
	if _, err := ParseCustomAuthUsername("u?k=v&x-amz-customauthorizer-signature=%zz"); err == nil {
		t.Error("malformed signature encoding accepted")
	}
}

// reservedInBase: a base that itself carries our parameters cannot be told
// apart from them.
func reservedInBase(base string) bool {
	for _, k := range []string{customAuthNameParam, customAuthSignatureParam, metricsSDKParam, metricsVersionParam} {
		if strings.Contains(base, k) {
			return true
		}
	}
	return false
}

func FuzzCustomAuthUsername(f *testing.F) {
	for _, tc := range customUserCases {
		f.Add(tc.base, tc.authName, tc.key, tc.value, tc.sig, tc.metrics, tc.version)
	}
	f.Fuzz(func(t *testing.T, base, authName, key, value, sig string, metrics bool, version string) {
		got, err := CustomAuthUsername(base, authName, key, value, sig, metrics, version)
		if err != nil {
			if errs.KindOf(err) != errs.Usage {
				t.Fatalf("error of kind %v: %v", errs.KindOf(err), err)
			}
			for _, secret := range []string{value, sig} {
				if len(secret) > 3 && strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q shows a secret %q", err, secret)
				}
			}
			return
		}
		if reservedInBase(base) {
			return
		}
		p, err := ParseCustomAuthUsername(got)
		if err != nil {
			t.Fatalf("parse %q: %v", got, err)
		}
		wantSig := sig
		if strings.Contains(sig, "%") {
			wantSig, _ = url.QueryUnescape(sig)
		}
		want := CustomAuthParams{Base: base, AuthorizerName: authName, TokenKeyName: key, TokenValue: value, Signature: wantSig}
		if metrics {
			want.SDK, want.Version = metricsSDK, version
		}
		if p != want {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", got, p, want)
		}
		suffix := "SDK=iotctl&Version=" + url.QueryEscape(version)
		if metrics && !strings.HasSuffix(got, "&"+suffix) && !strings.HasSuffix(got, "?"+suffix) {
			t.Fatalf("metrics not last in %q", got)
		}
	})
}

func TestCustomProvider(t *testing.T) {
	base := map[string][]string{
		"endpoint":            {"abc-ats.iot.us-east-1.amazonaws.com"},
		"authorizer-name":     {"myAuth"},
		"authorizer-username": {"user1"},
		"authorizer-password": {"pa\x00ss"},
		"token-key-name":      {"tok"},
		"token-value":         {"abc"},
		"token-signature":     {"sig=="},
	}
	with := func(extra map[string][]string) map[string][]string {
		m := map[string][]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	wantUser := "user1?x-amz-customauthorizer-name=myAuth&tok=abc&x-amz-customauthorizer-signature=sig%3D%3D"
	for _, tc := range []struct {
		name      string
		flags     map[string][]string
		transport Transport
		port      int
		alpn      []string
		user      string
	}{
		{"direct", base, TLS, 443, []string{"mqtt"}, wantUser + "&SDK=iotctl&Version=" + url.QueryEscape(build.Version)},
		{"no metrics", with(map[string][]string{"no-metrics": {"true"}}), TLS, 443, []string{"mqtt"}, wantUser},
		{"alpn given", with(map[string][]string{"no-metrics": {"true"}, "alpn": {"x-custom"}}), TLS, 443, []string{"x-custom"}, wantUser},
		{"websocket", with(map[string][]string{"no-metrics": {"true"}, "transport": {"websocket"}}), WSS, 443, nil, wantUser},
		{"wss endpoint", with(map[string][]string{"no-metrics": {"true"}, "endpoint": {"wss://broker.example.com"}}), WSS, 443, nil, wantUser},
		{"ws endpoint", with(map[string][]string{"no-metrics": {"true"}, "endpoint": {"ws://127.0.0.1:8080"}}), WS, 80, nil, wantUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(settingsForAWSTest(t, tc.flags))
			if err != nil {
				t.Fatal(err)
			}
			if p.Method() != "custom" {
				t.Fatalf("method %s", p.Method())
			}
			d, err := p.Prepare(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d.Transport != tc.transport || d.Port != tc.port {
				t.Errorf("transport %s port %d, want %s %d", d.Transport, d.Port, tc.transport, tc.port)
			}
			if d.WebsocketURL != nil {
				t.Error("custom auth websockets are unsigned: no WebsocketURL")
			}
			if (d.TLS == nil) != (tc.transport == WS) {
				t.Errorf("TLS config %v for %s", d.TLS, tc.transport)
			}
			if d.TLS != nil && !slices.Equal(d.TLS.NextProtos, tc.alpn) {
				t.Errorf("ALPN %v, want %v", d.TLS.NextProtos, tc.alpn)
			}
			if !d.HasUsername || d.Username != tc.user {
				t.Errorf("username %q, want %q", d.Username, tc.user)
			}
			if !d.HasPassword || !reflect.DeepEqual(d.Password, []byte("pa\x00ss")) {
				t.Errorf("password %q", d.Password)
			}
			// Each attempt gets its own copy.
			d.Password[0] = 'X'
			if d.TLS != nil {
				d.TLS.NextProtos = append(d.TLS.NextProtos[:0], "changed")
			}
			d2, _ := p.Prepare(context.Background())
			if string(d2.Password) != "pa\x00ss" || (d2.TLS != nil && slices.Contains(d2.TLS.NextProtos, "changed")) {
				t.Error("Prepare shares state between attempts")
			}
		})
	}

	_, err := New(settingsForAWSTest(t, map[string][]string{"authorizer-name": {"a"}, "token-value": {"secret-token"}}))
	wantKind(t, err, errs.Usage)
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q shows the token", err)
	}
	_, err = New(settingsForAWSTest(t, map[string][]string{"authorizer-name": {"a"}, "transport": {"websocket"}, "endpoint": {"mqtts://h"}}))
	wantKind(t, err, errs.Usage)
}
