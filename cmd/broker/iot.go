package broker

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/iotctl/iotctl/cmd/cmdutil"
	embedded "github.com/iotctl/iotctl/pkg/broker"
	"github.com/iotctl/iotctl/pkg/broker/iot"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/policy"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// iotOptions are the flags of the AWS IoT Core emulation (--iot).
type iotOptions struct {
	Enabled          bool
	Credentials      []string
	Authorizers      []string
	AuthorizerKeys   []string
	Policies         []string
	Things           []string
	Account          string
	SigV4MaxAge      time.Duration
	PublishRateLimit int
	StateDir         string
	Shadows          []string
	Jobs             []string
	JobsDir          string
	Region           string // the --region setting
	Provisioning     provisioningOptions
}

// iotFlagNames are the flags that mean nothing without --iot.
var iotFlagNames = []string{"region", "aws-credentials", "authorizer", "authorizer-key", "policy", "thing", "account", "sigv4-max-age", "publish-rate-limit", "state-dir", "shadow", "job", "jobs-dir", "provisioning-template", "named-policy", "provisioning-hook"}

const iotLong = `

AWS IoT Core emulation (--iot): every listener authenticates as IoT Core
does, IoT policies decide what each connection may do, and IoT Core's limits
apply. Principals, as --policy names them:
  cert:<certificate ID>  mutual TLS on --tls-listen, against --client-ca;
                         the ID is the lower-case hex SHA-256 of the DER
                         certificate. ALPN x-amzn-mqtt-ca or none: mutual
                         TLS; ALPN mqtt: custom authorizer
  akid:<access key ID>   SigV4-presigned websocket URL (--wss-listen or
                         --ws-listen) signed with an --aws-credentials key,
                         service iotdevicegateway, region --region (default
                         us-east-1), at most 5 minutes off; else HTTP 403
  cognito:<identity ID>  the same, with a key given as
                         --aws-credentials AKID:SECRET:TOKEN:cognito=<ID>
                         (the key Cognito hands out for that identity)
  custom:<principalId>   --authorizer NAME=COMMAND: on a TLS connection with
                         ALPN mqtt, a websocket upgrade without SigV4, or
                         plain TCP, the CONNECT username names the authorizer
                         (x-amz-customauthorizer-name=NAME; the only one is
                         the default). COMMAND runs with sh -c (cmd /C on
                         Windows), gets IoT Core's authorizer event as JSON
                         on stdin (token, signatureVerified, protocols,
                         protocolData with the full username, the password
                         in base64 and the client ID, connectionMetadata)
                         and prints the Lambda response on stdout
                         (isAuthenticated, principalId, policyDocuments,
                         disconnectAfterInSeconds). --authorizer-key
                         NAME=KEY.pem makes signed tokens required (RSA
                         SHA-256 over the token value, base64 signature)
  *                      every authenticated principal
A custom authorizer's policies are the ones it returns, plus --policy ones.
--thing NAME=PRINCIPAL[,ATTR=VALUE…] attaches a thing: a connection of that
principal with client ID NAME gets ${iot:Connection.Thing.ThingName} and
${iot:Connection.Thing.Attributes[ATTR]}.

Without a policy every action is denied. Refusals are logged on stderr with
the action, resource and principal: CONNACK 0x87 (iot:Connect denied), 0x86
(credentials rejected), 0x85 (client ID over 128 bytes); PUBACK 0x87 (QoS 0:
dropped) for iot:Publish/iot:RetainPublish or a reserved $ topic, 0x90 for a
topic over 256 bytes or 7 slashes, 0x97 over --publish-rate-limit; SUBACK
0x87 per filter for iot:Subscribe, 0x97 past 8 filters in a SUBSCRIBE or 50
subscriptions; iot:Receive denied: the message is not delivered; a will
is published only under iot:Publish (and iot:RetainPublish) on its topic. QoS 2
publish: DISCONNECT 0x9B; payload over 128 KB: 0x95; SigV4 and Cognito
connections: DISCONNECT 0xA0 after --sigv4-max-age. CONNACK advertises
Maximum QoS 1, Receive Maximum 100, Topic Alias Maximum 8, Retain Available,
no Subscription Identifiers. Secrets given here are visible to other local
users in the process list: use throwaway keys.

Device Shadow service (every --iot broker): classic and named shadows on
IoT Core's reserved topics, $aws/things/THING/shadow/{get,update,delete} and
$aws/things/THING/shadow/name/NAME/{get,update,delete}, answered on
…/accepted and …/rejected, with …/update/delta and …/update/documents, in
IoT Core's JSON (state, metadata timestamps, version, clientToken; errors
{code, message, timestamp, clientToken}: 400 bad request, 404 no shadow,
409 version conflict, 413 desired + reported over 8 KB, 415 not UTF-8).
Requests need iot:Publish on the request topic and replies iot:Receive on
theirs, as any message; a request is answered before its PUBACK. Shadows
live in memory unless --state-dir DIR keeps them (DIR/shadows, one file per
shadow, written atomically) across restarts. --shadow THING[/NAME]=FILE
starts a shadow from an update body such as
{"state":{"desired":{"color":"red"}}}; a shadow already in --state-dir wins.` + jobsLong + provisioningLong

const iotExample = `

  # AWS IoT Core emulation: mutual TLS on 8883 with the seed sample's policy
  iotctl policy gen --topic test/topic --client-id 'test-*' --account 123456789012 > policy.json
  iotctl broker --iot --listen "" --tls-listen 127.0.0.1:8883 --client-ca ca.pem \
    --policy "cert:$(openssl x509 -in device.pem -outform der | sha256sum | cut -c1-64)=policy.json"

  # ... plus SigV4 websockets and a custom authorizer, any principal with that policy
  iotctl broker --iot --tls-listen 127.0.0.1:8883 --wss-listen 127.0.0.1:8443 --client-ca ca.pem \
    --aws-credentials AKIAEXAMPLE:secret --policy '*=policy.json' \
    --authorizer 'myAuth=./authorizer.sh' --authorizer-key myAuth=token-key.pem` + provisioningExample

// addIoTFlags adds the --iot flags and help to the broker command. The
// parsed options travel to brokerRun in the command's context (see applyIoT).
func addIoTFlags(cmd *cobra.Command, settings func() (*profile.Settings, error)) {
	o := &iotOptions{}
	fl := cmd.Flags()
	fl.BoolVar(&o.Enabled, "iot", false, "emulate AWS IoT Core: authentication, IoT policies and limits (see above)")
	cmdutil.StringArrayVar(fl, &o.Credentials, "aws-credentials", "AWS key accepted in SigV4 websocket URLs, AKID:SECRET[:SESSION_TOKEN][:cognito=IDENTITY_ID] (repeatable)")
	cmdutil.StringArrayVar(fl, &o.Authorizers, "authorizer", "custom authorizer NAME=COMMAND (repeatable)")
	cmdutil.StringArrayVar(fl, &o.AuthorizerKeys, "authorizer-key", "NAME=PUBLIC_KEY.pem: authorizer NAME requires tokens signed with this RSA key (repeatable)")
	cmdutil.StringArrayVar(fl, &o.Policies, "policy", "PRINCIPAL=FILE: attach an IoT policy to cert:<certificate ID>, akid:<access key ID>, cognito:<identity ID>, custom:<principalId> or * (repeatable)")
	cmdutil.StringArrayVar(fl, &o.Things, "thing", "NAME=PRINCIPAL[,ATTRIBUTE=VALUE…]: attach a thing to a principal (repeatable)")
	fl.StringVar(&o.Account, "account", iot.DefaultAccount, "AWS account ID of the emulated ARNs")
	fl.DurationVar(&o.SigV4MaxAge, "sigv4-max-age", iot.DefaultSigV4MaxAge, "disconnect SigV4 and Cognito connections (0xA0) after this long")
	fl.IntVar(&o.PublishRateLimit, "publish-rate-limit", iot.DefaultPublishRateLimit, "publishes per second per connection; more get PUBACK 0x97 (0: no limit)")
	fl.StringVar(&o.StateDir, "state-dir", "", "keep Device Shadows, jobs and what fleet provisioning created in this folder across restarts (default: in memory)")
	o.Provisioning.addFlags(fl)
	cmdutil.StringArrayVar(fl, &o.Shadows, "shadow", "THING[/NAME]=FILE: start the shadow (classic, or named NAME) from an update body {\"state\":{…}} (repeatable)")
	addJobsFlags(fl, o)

	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if !o.Enabled {
			for _, name := range iotFlagNames {
				if c.Flags().Changed(name) {
					return errs.Usagef("--%s needs --iot", name)
				}
			}
		}
		s, err := settings()
		if err != nil {
			return err
		}
		o.Region = s.Region
		c.SetContext(context.WithValue(c.Context(), iotKey{}, o))
		return run(c, args)
	}
}

type iotKey struct{}

// applyIoT turns the --iot flags of the command's context into broker
// options; without --iot it does nothing.
func applyIoT(ctx context.Context, bo *embedded.Options) error {
	o, _ := ctx.Value(iotKey{}).(*iotOptions)
	if o == nil || !o.Enabled {
		return nil
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	cfg.Logger, cfg.Verbose = bo.Logger, bo.Verbose
	em, err := iot.New(cfg)
	if err != nil {
		return errs.Usagef("--iot: %v", err)
	}
	em.Apply(bo)
	if bo.Logger != nil {
		bo.Logger.Info(em.Summary())
	}
	return nil
}

// config parses the flags into the emulator's configuration.
func (o *iotOptions) config() (iot.Config, error) {
	cfg := iot.Config{
		Account:          o.Account,
		Region:           o.Region,
		SigV4MaxAge:      o.SigV4MaxAge,
		PublishRateLimit: o.PublishRateLimit,
		StateDir:         o.StateDir,
	}
	if !validAccount(o.Account) {
		return cfg, errs.Usagef("--account %q: want a 12-digit AWS account ID", o.Account)
	}
	if o.SigV4MaxAge <= 0 {
		return cfg, errs.Usagef("--sigv4-max-age %s: want a positive duration such as 24h", o.SigV4MaxAge)
	}
	if o.PublishRateLimit < 0 {
		return cfg, errs.Usagef("--publish-rate-limit %d: want a number of publishes per second, or 0 for no limit", o.PublishRateLimit)
	}
	for _, v := range o.Credentials {
		c, err := parseCredential(v)
		if err != nil {
			return cfg, err
		}
		cfg.Credentials = append(cfg.Credentials, c)
	}
	keys := map[string]string{}
	for _, v := range o.AuthorizerKeys {
		name, file, err := splitAssign("--authorizer-key", v, "NAME=PUBLIC_KEY.pem")
		if err != nil {
			return cfg, err
		}
		keys[name] = file
	}
	for _, v := range o.Authorizers {
		name, command, err := splitAssign("--authorizer", v, "NAME=COMMAND")
		if err != nil {
			return cfg, err
		}
		a := iot.Authorizer{Name: name, Command: command}
		if file, ok := keys[name]; ok {
			if a.PublicKey, err = iot.LoadPublicKey(file); err != nil {
				return cfg, errs.Usagef("--authorizer-key %s: %v", name, err)
			}
			delete(keys, name)
		}
		cfg.Authorizers = append(cfg.Authorizers, a)
	}
	for name := range keys {
		return cfg, errs.Usagef("--authorizer-key %s: no --authorizer %s=COMMAND", name, name)
	}
	for _, v := range o.Policies {
		principal, file, err := splitAssign("--policy", v, "PRINCIPAL=FILE")
		if err != nil {
			return cfg, err
		}
		if err := iot.CheckPrincipal(principal); err != nil {
			return cfg, errs.Usagef("--policy %s: %v", v, err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, errs.Usagef("--policy %s: %v", principal, err)
		}
		doc, err := policy.Parse(data)
		if err != nil {
			return cfg, errs.Usagef("--policy %s: %s: %v", principal, file, err)
		}
		cfg.Policies = append(cfg.Policies, iot.Policy{Principal: principal, Doc: doc})
	}
	for _, v := range o.Things {
		t, err := parseThing(v)
		if err != nil {
			return cfg, err
		}
		cfg.Things = append(cfg.Things, t)
	}
	for _, v := range o.Shadows {
		target, file, err := splitAssign("--shadow", v, "THING[/NAME]=FILE")
		if err != nil {
			return cfg, err
		}
		thing, name, _ := strings.Cut(target, "/")
		data, err := os.ReadFile(file)
		if err != nil {
			return cfg, errs.Usagef("--shadow %s: %v", target, err)
		}
		cfg.Shadows = append(cfg.Shadows, iot.ShadowSeed{Thing: thing, Name: name, Doc: data})
	}
	if err := o.jobsConfig(&cfg); err != nil {
		return cfg, err
	}
	if err := o.Provisioning.config(&cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// parseCredential reads AKID:SECRET[:SESSION_TOKEN][:cognito=IDENTITY_ID].
// Keys and tokens hold no ':'; a Cognito identity ID (region:guid) does,
// so it comes last.
func parseCredential(v string) (iot.Credential, error) {
	const want = "want AKID:SECRET[:SESSION_TOKEN][:cognito=IDENTITY_ID]"
	akid, rest, ok := strings.Cut(v, ":")
	if !ok || akid == "" {
		return iot.Credential{}, errs.Usagef("--aws-credentials: no access key ID: %s", want)
	}
	c := iot.Credential{AccessKeyID: akid}
	c.SecretAccessKey, rest, _ = strings.Cut(rest, ":")
	if c.SecretAccessKey == "" {
		return c, errs.Usagef("--aws-credentials %s: no secret key: %s", akid, want)
	}
	if rest != "" && !strings.HasPrefix(rest, "cognito=") {
		c.SessionToken, rest, _ = strings.Cut(rest, ":")
	}
	if rest != "" {
		id, ok := strings.CutPrefix(rest, "cognito=")
		if !ok || id == "" {
			return c, errs.Usagef("--aws-credentials %s: the field after the session token must be cognito=<identity ID>: %s", akid, want)
		}
		c.CognitoIdentityID = id
	}
	return c, nil
}

// parseThing reads NAME=PRINCIPAL[,ATTRIBUTE=VALUE…].
func parseThing(v string) (iot.Thing, error) {
	name, rest, err := splitAssign("--thing", v, "NAME=PRINCIPAL[,ATTRIBUTE=VALUE…]")
	if err != nil {
		return iot.Thing{}, err
	}
	fields := strings.Split(rest, ",")
	t := iot.Thing{Name: name, Principal: fields[0]}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return t, errs.Usagef("--thing %s: attribute %q is not NAME=VALUE", name, f)
		}
		if t.Attributes == nil {
			t.Attributes = map[string]string{}
		}
		t.Attributes[k] = val
	}
	if err := iot.CheckPrincipal(t.Principal); err != nil || t.Principal == iot.AnyPrincipal {
		return t, errs.Usagef("--thing %s: attach it to one principal: cert:<certificate ID>, akid:<access key ID>, cognito:<identity ID> or custom:<principalId>", name)
	}
	return t, nil
}

// splitAssign splits KEY=VALUE at the first '='.
func splitAssign(flag, v, form string) (string, string, error) {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || val == "" {
		return "", "", errs.Usagef("%s %q: want %s", flag, v, form)
	}
	return k, val, nil
}

func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
