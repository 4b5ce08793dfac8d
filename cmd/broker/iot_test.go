package broker

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	embedded "github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/errs"
)

// iotFlags parses args and returns the --iot options the run got.
func iotFlags(t *testing.T, args ...string) (*iotOptions, error) {
	t.Helper()
	t.Setenv("IOTCTL_HOME", t.TempDir())
	ios, _, _, _ := cmdutil.Test()
	var got *iotOptions
	cmd := NewCmdBroker(cmdutil.NewFactory(ios, "test"), func(ctx context.Context, _ *Options) error {
		got, _ = ctx.Value(iotKey{}).(*iotOptions)
		return nil
	})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err := cmd.Execute()
	return got, err
}

func TestIoTFlags(t *testing.T) {
	t.Setenv("IOTCTL_REGION", "eu-west-1")
	got, err := iotFlags(t, "--iot", "--aws-credentials", "AKID:SECRET", "--aws-credentials", "ASIA:S:T:cognito=eu-west-1:abc",
		"--authorizer", "a=./auth.sh --flag=x", "--authorizer-key", "a=key.pem", "--policy", "*=p.json", "--policy", "akid:AKID=q.json",
		"--thing", "t1=akid:AKID,site=7", "--account", "210987654321", "--sigv4-max-age", "1m", "--publish-rate-limit", "0")
	if err != nil {
		t.Fatal(err)
	}
	want := &iotOptions{
		Enabled: true, Credentials: []string{"AKID:SECRET", "ASIA:S:T:cognito=eu-west-1:abc"},
		Authorizers: []string{"a=./auth.sh --flag=x"}, AuthorizerKeys: []string{"a=key.pem"},
		Policies: []string{"*=p.json", "akid:AKID=q.json"}, Things: []string{"t1=akid:AKID,site=7"},
		Account: "210987654321", SigV4MaxAge: time.Minute, PublishRateLimit: 0, Region: "eu-west-1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options\n%+v, want\n%+v", got, want)
	}

	got, err = iotFlags(t)
	if err != nil || got.Enabled || got.Account != iot.DefaultAccount || got.SigV4MaxAge != 24*time.Hour || got.PublishRateLimit != 100 {
		t.Errorf("defaults %+v, %v", got, err)
	}

	for _, args := range [][]string{{"--policy", "*=p.json"}, {"--account", "210987654321"}, {"--publish-rate-limit", "5"},
		{"--state-dir", "x"}, {"--shadow", "t=s.json"}} {
		if _, err := iotFlags(t, args...); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "needs --iot") {
			t.Errorf("%v without --iot: %v, want a usage error", args, err)
		}
	}
}

func TestParseCredential(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want iot.Credential
		bad  bool
	}{
		{in: "AKID:SECRET", want: iot.Credential{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}},
		{in: "AKID:S/e+c=:TOKEN/+=", want: iot.Credential{AccessKeyID: "AKID", SecretAccessKey: "S/e+c=", SessionToken: "TOKEN/+="}},
		{in: "ASIA:S:T:cognito=us-east-1:0000-11", want: iot.Credential{AccessKeyID: "ASIA", SecretAccessKey: "S", SessionToken: "T", CognitoIdentityID: "us-east-1:0000-11"}},
		{in: "ASIA:S:cognito=us-east-1:0000-11", want: iot.Credential{AccessKeyID: "ASIA", SecretAccessKey: "S", CognitoIdentityID: "us-east-1:0000-11"}},
		{in: "AKID", bad: true},
		{in: "AKID:", bad: true},
		{in: ":s3cr3t", bad: true},
		{in: "AKID:s3cr3t:T:identity=x", bad: true},
		{in: "AKID:s3cr3t:T:cognito=", bad: true},
	} {
		got, err := parseCredential(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("%q: %+v, %v", tt.in, got, err)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cr3t") || errs.KindOf(err) != errs.Usage) {
			t.Errorf("%q: error %v shows the secret or is not a usage error", tt.in, err)
		}
	}
}

func TestIoTConfig(t *testing.T) {
	dir := t.TempDir()
	policyFile := writeFile(t, dir, "p.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	keyFile := writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	certID := strings.Repeat("ab", 32)
	base := func() *iotOptions {
		return &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, PublishRateLimit: 100}
	}

	o := base()
	o.Credentials = []string{"AKID:S"}
	o.Authorizers = []string{"a=cat", "b=true"}
	o.AuthorizerKeys = []string{"a=" + keyFile}
	o.Policies = []string{"cert:" + certID + "=" + policyFile, "*=" + policyFile}
	o.Things = []string{"t1=cert:" + certID + ",site=7,floor=2"}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Credentials) != 1 || len(cfg.Authorizers) != 2 || cfg.Authorizers[0].PublicKey == nil || cfg.Authorizers[1].PublicKey != nil ||
		len(cfg.Policies) != 2 || cfg.Policies[0].Principal != "cert:"+certID ||
		!reflect.DeepEqual(cfg.Things, []iot.Thing{{Name: "t1", Principal: "cert:" + certID, Attributes: map[string]string{"site": "7", "floor": "2"}}}) {
		t.Errorf("config %+v", cfg)
	}
	if _, err := iot.New(cfg); err != nil {
		t.Errorf("iot.New: %v", err)
	}

	for _, tt := range []struct {
		name string
		mod  func(*iotOptions)
		want string
	}{
		{"account", func(o *iotOptions) { o.Account = "12345" }, "--account"},
		{"max age", func(o *iotOptions) { o.SigV4MaxAge = 0 }, "--sigv4-max-age"},
		{"rate", func(o *iotOptions) { o.PublishRateLimit = -1 }, "--publish-rate-limit"},
		{"authorizer form", func(o *iotOptions) { o.Authorizers = []string{"cat"} }, "NAME=COMMAND"},
		{"key without authorizer", func(o *iotOptions) { o.AuthorizerKeys = []string{"z=" + keyFile} }, "no --authorizer z=COMMAND"},
		{"key file", func(o *iotOptions) {
			o.Authorizers = []string{"a=cat"}
			o.AuthorizerKeys = []string{"a=" + policyFile}
		}, "--authorizer-key a"},
		{"principal", func(o *iotOptions) { o.Policies = []string{"user:x=" + policyFile} }, "want cert:"},
		{"certificate ID", func(o *iotOptions) { o.Policies = []string{"cert:ABC=" + policyFile} }, "64 lower-case hex"},
		{"policy file", func(o *iotOptions) { o.Policies = []string{"*=" + filepath.Join(dir, "missing.json")} }, "missing.json"},
		{"policy JSON", func(o *iotOptions) { o.Policies = []string{"*=" + keyFile} }, "--policy *"},
		{"thing principal", func(o *iotOptions) { o.Things = []string{"t1=*"} }, "attach it to one principal"},
		{"thing attribute", func(o *iotOptions) { o.Things = []string{"t1=akid:A,site"} }, "NAME=VALUE"},
		{"shadow form", func(o *iotOptions) { o.Shadows = []string{"thing"} }, "THING[/NAME]=FILE"},
		{"shadow file", func(o *iotOptions) { o.Shadows = []string{"t1/cfg=" + filepath.Join(dir, "missing.json")} }, "--shadow t1/cfg"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mod(o)
			_, err := o.config()
			if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a usage error naming %q", err, tt.want)
			}
		})
	}
}

// TestApplyIoT checks that --iot reaches the broker options.
func TestApplyIoT(t *testing.T) {
	var bo embedded.Options
	if err := applyIoT(context.Background(), &bo); err != nil || bo.Hooks != nil {
		t.Fatalf("without --iot: %v, hooks %v", err, bo.Hooks)
	}
	o := &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, PublishRateLimit: 100}
	ctx := context.WithValue(context.Background(), iotKey{}, o)
	if err := applyIoT(ctx, &bo); err != nil {
		t.Fatal(err)
	}
	if len(bo.Hooks) != 1 || bo.Authorize == nil || bo.TLSConfig == nil || bo.Capabilities == nil || bo.Capabilities.MaximumQoS != 1 {
		t.Errorf("broker options not set for IoT: %+v", bo)
	}
}

// TestShadowFlags: --shadow seeds reach the emulator; a bad seed or state
// directory is a usage error naming it.
func TestShadowFlags(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "s.json", `{"state":{"desired":{"color":"red"}}}`)
	bad := writeFile(t, dir, "bad.json", `{"desired":{"color":"red"}}`)
	o := &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, StateDir: filepath.Join(dir, "state"),
		Shadows: []string{"dev1=" + good, "dev1/cfg=" + good}}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != o.StateDir || len(cfg.Shadows) != 2 || cfg.Shadows[0].Thing != "dev1" || cfg.Shadows[0].Name != "" ||
		cfg.Shadows[1].Thing != "dev1" || cfg.Shadows[1].Name != "cfg" {
		t.Errorf("config %+v", cfg)
	}
	var bo embedded.Options
	if err := applyIoT(context.WithValue(context.Background(), iotKey{}, o), &bo); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "shadows", "dev1~cfg.json")); err != nil {
		t.Errorf("seeded shadow not in the state directory: %v", err)
	}
	for _, tt := range []struct {
		shadow, want string
	}{
		{"dev1=" + bad, "shadow dev1: Missing required node: state"},
		{"dev.1=" + good, "shadow dev.1: a thing name is"},
		{"dev1/" + strings.Repeat("n", 65) + "=" + good, "a shadow name is 1 to 64"},
	} {
		o := &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, Shadows: []string{tt.shadow}}
		err := applyIoT(context.WithValue(context.Background(), iotKey{}, o), &embedded.Options{})
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--shadow %s: %v, want a usage error naming %q", tt.shadow, err, tt.want)
		}
	}
	// A state directory that cannot be made.
	o = &iotOptions{Enabled: true, Account: iot.DefaultAccount, SigV4MaxAge: time.Hour, StateDir: good}
	if err := applyIoT(context.WithValue(context.Background(), iotKey{}, o), &embedded.Options{}); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "state directory") {
		t.Errorf("--state-dir on a file: %v, want a usage error", err)
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
