package root

import (
	"fmt"
	"strings"

	"github.com/iotctl/iotctl/cmd/broker"
	"github.com/iotctl/iotctl/cmd/cmdutil"
	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/profile"
	"github.com/spf13/cobra"
)

// addHelpTopics adds the topics of 'iotctl help <topic>': commands with no
// Run, which cobra lists under "Additional help topics".
func addHelpTopics(root *cobra.Command) {
	root.AddCommand(
		newHelpTopic("exit-codes", "Exit codes and what they mean", exitCodesHelp),
		newHelpTopic("environment", "Environment variables: IOTCTL_*, proxies, AWS, SSLKEYLOGFILE, TERM", environmentHelp),
		newHelpTopic("profiles", "Profile files: format, selection, precedence, examples", profilesHelp),
		newHelpTopic("output", "-o json: what each command prints", func() string { return outputHelp }),
		newHelpTopic("mqtt311", "MQTT 3.1.1 (--mqtt-version 3.1.1): what differs from MQTT 5", func() string { return mqtt311Help }),
		newHelpTopic("embedded-broker", "iotctl broker: certificates, limits, shutdown, AWS IoT Core emulation", func() string { return broker.HelpTopic }),
	)
	root.SetHelpCommand(newCmdHelp())
}

// newHelpTopic is a help topic whose text is written when it is asked
// for: building the texts from the tables (settings, exit codes) for every
// run of every command would cost start-up time for nothing.
func newHelpTopic(name, short string, text func() string) *cobra.Command {
	cmd := &cobra.Command{Use: name, Short: short}
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
		fmt.Fprint(c.OutOrStdout(), text())
	})
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		_, err := fmt.Fprint(c.OutOrStderr(), text())
		return err
	})
	return cmd
}

// newCmdHelp replaces cobra's help command, which prints usage and exits 0
// for an unknown topic; here that is a usage error. It also completes topics.
func newCmdHelp() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command | topic]",
		Short: "Help about any command or topic",
		Long: `Help about any command, or one of the topics: exit-codes, environment,
profiles, output, mqtt311, embedded-broker. 'iotctl help <command>' is the same as 'iotctl
<command> --help'.`,
		Example: `  iotctl help environment
  iotctl help sub`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if (sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand()) && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if cmd == nil || err != nil || len(rest) > 0 {
				if cmd != nil && len(rest) > 0 {
					if err := cmdutil.UnknownCommand(cmd, rest[0], cmdutil.SubcommandNames(cmd)); len(cmdutil.Suggest(rest[0], cmdutil.SubcommandNames(cmd))) > 0 {
						return err
					}
				}
				return errs.Usagef("unknown help topic %q: run 'iotctl help' for the commands and topics", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString(`iotctl exits with one of these codes, so scripts can tell what went wrong:

`)
	for _, e := range cmdutil.ExitCodes {
		fmt.Fprintf(&b, "  %-5d %s\n", e.Code, e.Meaning)
	}
	b.WriteString(`
An error prints one line on stderr:

  iotctl: <what failed>: <why>[: <what to do>]

with the broker's reason code by name and number, and its reason string when
it sent one. Data (messages, JSON) goes to stdout, never mixed with errors.

Signals: on SIGINT (Ctrl-C) or SIGTERM every command stops within 3 s,
whatever its broker, proxy or network does. pub and bench wait up to 1.2 s
for the acknowledgements of what they sent (exit 6 with the count of those
that never came, else 130), then DISCONNECT and close within 2 s of the
signal; an embedded broker started in-process (pubsub, bench) that does not
stop by then is left behind with a warning. 'iotctl broker' says it is
stopping and exits 0 once stopped cleanly, 1 when it did not stop within
2 s. A second signal exits at once with 130. On a terminal or with -v, the
first signal says so; the same signal twice within 50 ms (timeout(1) sends
SIGTERM to the command and to its process group) counts once.

it sent one (control characters escaped). Data (messages, JSON) goes to
stdout, never mixed with errors.

Exit 3 also ends a command that lost its connection and then failed
--max-reconnects reconnects in a row (default 10 for pub, pubsub and bench,
no limit for sub; IOTCTL_MAX_RECONNECTS). A reconnect fails when the attempt
fails, when the broker ends the connection before answering anything, or on
a protocol violation by the broker (a malformed packet: the first is a
warning naming the packet, even without -v).

Exit 4 also counts a QoS 1/2 message pub dropped because the broker closed
the connection each of 3 times in a row it was sent: the other messages are
delivered, the dropped one is reported as refused.
`)
	return b.String()
}

func environmentHelp() string {
	var b strings.Builder
	b.WriteString(`Every connection setting is a flag, an IOTCTL_* environment variable and a
profile key, in that precedence: flag > env > profile > default. The variable
is the flag's name in upper case with - as _ (--ca-file is IOTCTL_CA_FILE).
Empty variables are ignored.

The connection flags belong to the commands that connect: pub, sub, pubsub,
bench, whoami, shadow, jobs and profile validate (after the command name:
'iotctl whoami --insecure'). -o, -v, --debug and --profile are global. The other commands
(broker, policy, profile list/show/set/..., version) read no profile and only
the variables of the flags they have, so a broken profile or variable only
stops the commands that use it.

Selection of the profile and its folder:

`)
	row := func(name, text string) { fmt.Fprintf(&b, "  %-27s %s\n", name, text) }
	row("IOTCTL_PROFILE", "profile to use, like --profile (default: the current one, see 'profile use'); set but empty: no profile")
	row("IOTCTL_HOME", "folder of profiles/ and current (default: ~/.iotctl)")
	b.WriteString("\nSettings:\n\n")
	for _, d := range profile.Defs {
		text := d.Usage
		if len(d.Enum) > 0 {
			text += ": " + strings.Join(d.Enum, ", ")
		}
		if d.Default != "" && d.Default != "0" && d.Default != "false" && d.Default != "0s" {
			text += " (default " + d.Default + ")"
		}
		if d.Secret {
			text += " [secret]"
		}
		row(d.Env(), text)
	}
	var secrets []string
	for _, d := range profile.Defs {
		if d.Secret {
			secrets = append(secrets, d.Env())
		}
	}
	fmt.Fprintf(&b, `
Secrets (%s)
are read from the environment like every other setting, and are never
printed: 'iotctl profile show' and -v/--debug output show them as ****.
Prefer these variables, or --password-file, to flags, which other users of the
machine can see in the process list.

A URL's password is masked the same way wherever a URL is printed:
--proxy http://bob:pw@host:3128 shows as http://bob:****@host:3128, and so
does --endpoint mqtt://alice:pw@host. The user and password of an endpoint
URL are the MQTT username and password (as with mosquitto_pub -L), unless
--username or --password/--password-file are set (by flag, IOTCTL_* variable
or profile), which win. Percent-encode @ : / ? # in them (%%40 %%3A %%2F %%3F %%23).

Proxies: with no --proxy (IOTCTL_PROXY, or a profile's proxy), iotctl reads
the variables curl and Go read, as golang.org/x/net/http/httpproxy does:

`, wrapList(secrets, 70))
	row("HTTPS_PROXY, https_proxy", "proxy for TLS: mqtts, wss, AWS IoT, STS, Cognito")
	row("HTTP_PROXY, http_proxy", "proxy for plain mqtt:// and ws://")
	row("ALL_PROXY, all_proxy", "proxy for either when its own variable is unset")
	row("NO_PROXY, no_proxy", "direct to: host, .domain, CIDR, host:port, *")
	b.WriteString(`
Upper case wins over lower case. Proxies are http://, https://, socks5://
(the name resolved here) or socks5h:// (resolved by the proxy); no scheme
means http://. The variables never apply to localhost or loopback addresses.
--proxy applies to every connection, NO_PROXY or not; --no-proxy
(IOTCTL_NO_PROXY) or --proxy '' ignores the variables. 'iotctl whoami' and
--debug say which proxy is used and where it came from.

Formats: lists (IOTCTL_ALPN, IOTCTL_COGNITO_LOGIN) are comma-separated;
booleans are true/false or 1/0; durations are 30s, 5m, 1h or a bare number of
seconds.

The sigv4 and cognito methods also use the AWS SDK's own configuration
(AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_CONFIG_FILE, ~/.aws/config) for what the IOTCTL_*
settings leave open. The AWS region, in every command (signing, whoami,
policy gen and check): --region (IOTCTL_REGION, a profile's region), else the
endpoint's (xxx-ats.iot.<region>.amazonaws.com), else AWS_REGION, else
AWS_DEFAULT_REGION, else the region of the AWS profile (--aws-profile, else
AWS_PROFILE, else default). whoami says where it came from.
`)
	b.WriteString(otherEnvHelp)
	return b.String()
}

// otherEnvHelp documents the variables of other tools that iotctl honours.
const otherEnvHelp = `
Other tools' variables iotctl honours:

AWS (sigv4, cognito, whoami, policy gen):
  AWS_REGION                  region when neither --region nor the endpoint
  AWS_DEFAULT_REGION          names one (AWS_REGION first), before the
                              shared config profile's region
  AWS_PROFILE                 shared config profile, like --aws-profile
                              (which wins)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
  AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE
                              as the AWS CLI reads them

TLS:
  SSLKEYLOGFILE               append the TLS session keys of mqtts:// and
                              wss:// connections to this file (NSS key log
                              format, as curl and browsers do), so Wireshark
                              can decrypt a capture; a warning says so once
                              per run. Never set it where others can read.

Terminal:
  TERM                        TERM=dumb (or a terminal of width 0): bench
                              progress is plain lines, no cursor movement.
                              iotctl prints no colours, so NO_COLOR changes
                              nothing.
`

// wrapList joins items with ", ", breaking lines before width.
func wrapList(items []string, width int) string {
	var b strings.Builder
	line := 0
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
			if line+2+len(it) > width {
				b.WriteByte('\n')
				line = 0
			} else {
				b.WriteByte(' ')
				line += 2
			}
		}
		b.WriteString(it)
		line += len(it)
	}
	return b.String()
}

// ProfileExample is one example profile of 'iotctl help profiles'.
type ProfileExample struct {
	Name, Title, YAML string
}

// ProfileExamples are the examples of 'iotctl help profiles', one per auth
// method; tests check that each parses as a profile.
var ProfileExamples = []ProfileExample{
	{"local", "none: a plain MQTT broker, e.g. 'iotctl broker' or mosquitto", `endpoint: localhost
port: 1883
auth: none
`},
	{"broker", "userpass: username and password over TLS", `endpoint: mqtts://broker.example.com:8883
auth: userpass
username: alice
password-file: ~/.iotctl/alice.password   # or IOTCTL_PASSWORD
ca-file: ~/certs/broker-ca.pem
`},
	{"dev", "mtls: an AWS IoT thing certificate on port 8883", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: mtls
cert: ~/certs/thing.cert.pem
key: ~/certs/thing.private.key
ca-file: ~/certs/AmazonRootCA1.pem
client-id-prefix: test-
`},
	{"dev443", "mtls on port 443 with ALPN, through firewalls that only open 443", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: mtls
port: 443
alpn: x-amzn-mqtt-ca
cert: ~/certs/thing.cert.pem
key: ~/certs/thing.private.key
ca-file: ~/certs/AmazonRootCA1.pem
`},
	{"hsm", "pkcs11: the private key stays in a token (softhsm2, a YubiKey, a TPM); PIN from IOTCTL_PKCS11_PIN", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: pkcs11
pkcs11-lib: /usr/lib/softhsm/libsofthsm2.so
pkcs11-token-label: iot
pkcs11-key-label: thing-key
cert: ~/certs/thing.cert.pem
ca-file: ~/certs/AmazonRootCA1.pem
`},
	{"p12", "pkcs12: certificate and key in one .p12/.pfx file; password from IOTCTL_PKCS12_PASSWORD", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: pkcs12
pkcs12-file: ~/certs/thing.p12
ca-file: ~/certs/AmazonRootCA1.pem
`},
	{"win", "winstore: a certificate in the Windows certificate store, by thumbprint", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: winstore
cert-store: CurrentUser\MY\9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f6a7b8c9d0e
`},
	{"iam", "sigv4: IAM credentials, MQTT over a signed websocket on 443", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: sigv4
region: us-east-1
aws-profile: iot-dev
`},
	{"guest", "cognito: a Cognito identity's credentials, over a signed websocket", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: cognito
region: us-east-1
cognito-identity-id: us-east-1:0a1b2c3d-4e5f-6789-abcd-ef0123456789
# logins for authenticated identities: IOTCTL_COGNITO_LOGIN=provider=token
`},
	{"authz", "custom: a custom authorizer; token and signature from IOTCTL_TOKEN_VALUE and IOTCTL_TOKEN_SIGNATURE", `endpoint: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com
auth: custom
port: 443
authorizer-name: MyAuthorizer
token-key-name: x-token
authorizer-username: device-42
transport: tcp            # or websocket
`},
}

func profilesHelp() string {
	var b strings.Builder
	b.WriteString(`A profile is a named set of connection settings, so that

  iotctl --profile dev pub -t test/topic -m hello

needs no other flags. Profiles live in one YAML file each:

  ~/.iotctl/profiles/<name>.yaml    (or $IOTCTL_HOME/profiles/<name>.yaml)
  ~/.iotctl/current                 the name of the current profile

Names are lower-case letters, digits, - and _ (at most 64). The folders are
created with mode 0700 and the files 0600; iotctl warns when a profile file
is readable by others. Files are written to a temporary file and renamed, so
an interrupted write never leaves half a profile. profile set, unset, use and
delete hold the lock file ~/.iotctl/.lock while they read and write, so two
of them at once never lose an update. A folder iotctl cannot write (read-only,
not yours, or a file) is exit 2 naming it: set IOTCTL_HOME to a writable
folder, or fix its permissions.

A file holds setting: value lines, with the names of 'iotctl help environment'
(ca_file is accepted for ca-file). An unknown key is an error that names the
closest valid one. Lists are YAML lists or comma-separated; durations are 30s,
5m, 1h or seconds; a leading ~ in a file path is the home folder.

Selection: --profile NAME, else IOTCTL_PROFILE, else the current profile
('iotctl profile use NAME'), else none. An empty --profile '' or
IOTCTL_PROFILE= means no profile; 'iotctl profile use --none' (or
'profile use -') clears the selection. 'profile list' and 'profile show' say
which profile is current and what selected it. An error caused by a
profile's setting names the profile and its file: "check --cert (from
profile dev, ~/.iotctl/profiles/dev.yaml)".
Precedence of each setting: flag > IOTCTL_* variable > profile > default.
Only the commands that connect (pub, sub, pubsub, bench, req, reply, whoami,
shadow, jobs, provision, profile validate) read the profile; the others work
while it is broken.
'iotctl profile show' prints every effective setting with its source.

Manage profiles with:

  iotctl profile set NAME key=value...    create or update (a bare secret key reads stdin;
                                          warns when a file setting names no file)
  iotctl profile unset NAME key...        remove keys
  iotctl profile use NAME | --none        select the current profile, or none
  iotctl profile list                     list; * marks the current one
  iotctl profile show [NAME]              effective settings and sources, secrets as ****
  iotctl profile validate [NAME]          check the files a profile names
  iotctl profile delete NAME              delete

Secrets (password, key-password, pkcs11-pin, pkcs12-password, token-value,
token-signature, authorizer-password, cognito-login) may be stored in a
profile, in plain text protected by the file mode; the IOTCTL_* variables
keep them out of files.

Examples, one per auth method (--auth; inferred when unambiguous):
`)
	for _, ex := range ProfileExamples {
		fmt.Fprintf(&b, "\n# %s — ~/.iotctl/profiles/%s.yaml\n", ex.Title, ex.Name)
		for line := range strings.Lines(ex.YAML) {
			b.WriteString("  " + line)
		}
	}
	return b.String()
}

// outputHelp is 'iotctl help output'.
const outputHelp = `-o/--output text (the default) or json, for every command that prints a result.
With json, stdout holds one JSON document, so a script can pipe it to jq;
errors, steps and progress stay on stderr and the exit codes are those of
text mode.

  pub            its summary: topic, qos, sent, acknowledged (QoS 0: written),
                 refused, refused_by_reason [{reason_code, reason, count}],
                 unacknowledged, duration_s, rate (messages/s); printed on
                 every exit after connecting, failures included
  pubsub         its report: endpoint, embedded_broker, client_id, topic,
                 subscribed, published [{message, payload, reason_code,
                 reason}], received [{topic, payload | payload_base64}],
                 expected, received_all; printed on every exit after connecting
  policy check   its decision: decision, effect, action, resource,
                 statement, reason
  provision      thing_name, certificate_id, certificate_file, key_file,
                 key (service, created or csr), profile, profile_file,
                 device_configuration
  whoami, bench, version, profile list|show|set|use|delete|unset|validate
                 their report
  shadow get|update|delete
                 the service's accepted document (state, metadata, version,
                 timestamp) without the client token; json is their default
  jobs list|describe|next|update
                 the Jobs service's answer as AWS IoT sends it (its camelCase
                 names), without the client token; JSON in text mode too

Streams print one compact object per line instead: 'broker' one per
listener ({"scheme","url","address"}), 'sub -F json' (or 'sub -o json') one
per message, 'shadow watch' one per update/delta or update/documents message
as the service sent it, 'jobs run' one per execution ({"job_id",
"execution_number","status","exit_code","reported"}), 'req -o json' one per
response (the same object as sub's).

Every document is indented two spaces, with snake_case names that do not
change. Counts and sizes are numbers and flags booleans, also in
'profile show' ({"name": "port", "value": 8883}). A duration that is a
setting is a string in the flag's syntax ("60s"); a measured time is a
number whose name carries its unit (duration_s, connect_latency_ms).
`
