// Package badinput feeds the built iotctl binary bad input, one case per
// row: each must end with the exit code of CLI.md, exactly one
// "iotctl: <what failed>: <why>[: <what to do>]" line on stderr (warnings
// only where the row says so), nothing on stdout, and no panic or stack
// trace. A few rows are the good edge cases next to the bad ones (an empty
// --stdin, an empty --client-id, a world-readable profile): exit 0.
package badinput

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/clitest"
)

func TestMain(m *testing.M) { os.Exit(clitest.Main(m)) }

type badCase struct {
	name  string
	args  []string
	env   []string
	stdin string
	// stdinFile, when set, is opened as stdin (e.g. /dev/zero).
	stdinFile string
	// home prepares the case's private home (profiles) before the run.
	home func(t *testing.T, home string)
	code int
	// want matches the one "iotctl: " error line ("" for exit 0: none).
	want string
	// warn, when set, matches the one warning line the case expects.
	warn string
	// stdout: the case succeeds and prints data.
	stdout bool
	// needs names a peer the case needs; the case is skipped (failed under
	// IOTCTL_REQUIRE_PEERS=1) when the world has none.
	needs string
	check func(t *testing.T, r clitest.Result)
	// noRemedy: the message matches but does not say what to do; logged
	// as MISSING-REMEDY for the report instead of failing.
	noRemedy string
}

// writeProfile writes home/.iotctl/profiles/<name>.yaml with mode.
func writeProfile(name, text string, mode os.FileMode) func(t *testing.T, home string) {
	return func(t *testing.T, home string) {
		t.Helper()
		dir := filepath.Join(home, ".iotctl", "profiles")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// currentProfile writes a profile and selects it, as 'profile use' does.
func currentProfile(name, text string) func(t *testing.T, home string) {
	return func(t *testing.T, home string) {
		t.Helper()
		writeProfile(name, text, 0o600)(t, home)
		if err := os.WriteFile(filepath.Join(home, ".iotctl", "current"), []byte(name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func cases(w *world) []badCase {
	cl := []string{"--endpoint", w.closed}
	pub := func(args ...string) []string { return append(append([]string{"pub"}, cl...), args...) }
	sub := func(args ...string) []string { return append(append([]string{"sub"}, cl...), args...) }
	live := func(cmd string, args ...string) []string {
		return append([]string{cmd, "--endpoint", w.plainURL}, args...)
	}
	aws := []string{"--limits", "aws-iot"}
	long := strings.Repeat("t", 257)
	filters51 := []string{"sub", "--endpoint", w.closed, "--limits", "aws-iot"}
	for i := 0; i < 51; i++ {
		filters51 = append(filters51, "-t", fmt.Sprintf("f/%d", i))
	}
	thumb := strings.Repeat("ab", 20)
	big := strings.Repeat("x", 70000)
	hsmEnv := []string{"SOFTHSM2_CONF=" + w.softhsmConf}

	return []badCase{
		// Topics, filters and limits.
		{name: "pub wildcard + in topic", args: pub("-t", "a/+/b", "-m", "x"), code: 2, want: `topic "a/\+/b" contains the wildcard .*wildcards belong in subscription filters`},
		{name: "pub wildcard # in topic", args: pub("-t", "a/#", "-m", "x"), code: 2, want: `contains the wildcard '#'.*subscription filters`},
		{name: "pub empty topic", args: pub("-t", "", "-m", "x"), code: 2, want: `no topic: give -t TOPIC`},
		{name: "sub empty filter", args: sub("-t", ""), code: 2, want: `empty filter: MQTT 5 requires at least one character`},
		{name: "pub topic over 256 bytes aws-iot", args: pub(append(aws, "-t", long, "-m", "x")...), code: 2, want: `has 257 bytes: AWS IoT allows at most 256 \(--limits aws-iot\)`},
		{name: "pub topic with 8 slashes aws-iot", args: pub(append(aws, "-t", "a/b/c/d/e/f/g/h/i", "-m", "x")...), code: 2, want: `has 8 slashes: AWS IoT allows at most 7`},
		{name: "sub filter with 8 slashes aws-iot", args: sub(append(aws, "-t", "a/b/c/d/e/f/g/h/#")...), code: 2, want: `has 8 slashes: AWS IoT allows at most 7`},
		{name: "pub 200 KB payload aws-iot", args: pub(append(aws, "-t", "a", "-f", w.bigPayload)...), code: 2, want: `payload of 204800 bytes is too large: AWS IoT allows at most 131072 bytes`},
		{name: "pub --lines line over 128 KB aws-iot", args: live("pub", "--limits", "aws-iot", "-t", "a", "-l", "-q", "1"), stdin: "ok\n" + strings.Repeat("x", 200*1024) + "\n", code: 2, want: `line 2 is longer than the payload limit of 131072 bytes \(--limits aws-iot\)`},
		{name: "pub QoS 2 aws-iot", args: pub(append(aws, "-t", "a", "-m", "x", "-q", "2")...), code: 2, want: `QoS 2 is not supported: AWS IoT allows at most QoS 1`},
		{name: "sub QoS 2 aws-iot", args: sub(append(aws, "-t", "a", "-q", "2")...), code: 2, want: `QoS 2 is not supported: AWS IoT allows at most QoS 1`},
		{name: "pub QoS 3", args: pub("-t", "a", "-m", "x", "-q", "3"), code: 2, want: `QoS 3 is not a QoS level: use 0, 1 or 2`},
		{name: "pub invalid UTF-8 topic", args: pub("-t", "a/\xff\xfe", "-m", "x"), code: 2, want: `topic .* is not valid UTF-8.*: .*UTF-8 text`},
		{name: "sub invalid UTF-8 filter", args: sub("-t", "a/\xc3"), code: 2, want: `filter .* is not valid UTF-8.*: .*UTF-8 text`},
		{name: "sub # not last", args: sub("-t", "a/#/b"), code: 2, want: `'#' is allowed only as the last level`},
		{name: "sub 51 filters aws-iot", args: filters51, code: 2, want: `51 subscriptions: AWS IoT allows at most 50 per connection`},
		{name: "pub $ topic aws-iot", args: pub(append(aws, "-t", "$SYS/x", "-m", "x")...), code: 2, want: `AWS IoT reserves \$ topics`},
		{name: "client ID over 128 bytes aws-iot", args: pub(append(aws, "-t", "a", "-m", "x", "--client-id", strings.Repeat("c", 129))...), code: 2, want: `client ID .* has 129 bytes: AWS IoT allows at most 128`},
		{name: "keepalive under 30s aws-iot", args: pub(append(aws, "-t", "a", "-m", "x", "--keepalive", "5s")...), code: 2, want: `keepalive 5s is out of range: AWS IoT allows 30s to 20m0s`},

		// Inputs without end and properties MQTT cannot carry: refused
		// before connecting (the endpoint is a closed port), in bounded memory.
		{name: "pub -f /dev/zero", args: pub("-t", "a", "-f", "/dev/zero"), code: 2, want: `-f /dev/zero: payload of more than 268435455 bytes is too large: MQTT 5 allows at most 268435455 bytes \(--limits mqtt5\): publish less, or split the input`},
		{name: "pub -f /dev/zero aws-iot", args: pub(append(aws, "-t", "a", "-f", "/dev/zero")...), code: 2, want: `-f /dev/zero: payload of more than 131072 bytes is too large: AWS IoT allows at most 131072 bytes \(--limits aws-iot\)`},
		{name: "pub --stdin < /dev/zero", args: pub("-t", "a", "--stdin"), stdinFile: "/dev/zero", code: 2, want: `--stdin: payload of more than 268435455 bytes is too large: MQTT 5 allows at most 268435455 bytes`},
		{name: "pub --stdin < /dev/zero aws-iot", args: pub(append(aws, "-t", "a", "--stdin")...), stdinFile: "/dev/zero", code: 2, want: `--stdin: payload of more than 131072 bytes is too large: AWS IoT allows at most 131072 bytes`},
		{name: "pub --lines < /dev/zero aws-iot (one endless line)", args: live("pub", "--limits", "aws-iot", "-t", "a", "-l", "-q", "1"), stdinFile: "/dev/zero", code: 2, want: `line 1 is longer than the payload limit of 131072 bytes \(--limits aws-iot\)`},
		{name: "70,000-byte --content-type", args: pub("-t", "a", "-m", "x", "--content-type", big), code: 2, want: `--content-type of 70000 bytes is too long: MQTT allows at most 65535 bytes in a string: shorten it`},
		{name: "70,000-byte --correlation-data", args: pub("-t", "a", "-m", "x", "--correlation-data", big), code: 2, want: `--correlation-data of 70000 bytes is too long: MQTT allows at most 65535 bytes: shorten it`},
		{name: "70,000-byte --user-property value", args: pub("-t", "a", "-m", "x", "--user-property", "k="+big), code: 2, want: `--user-property value of "k" of 70000 bytes is too long: MQTT allows at most 65535 bytes in a string`},
		{name: "70,000-byte --user-property key", args: pub("-t", "a", "-m", "x", "--user-property", big+"=v"), code: 2, want: `--user-property key of 70000 bytes is too long: MQTT allows at most 65535 bytes in a string`},
		{name: "70,000-byte topic", args: pub("-t", big, "-m", "x"), code: 2, want: `topic of 70000 bytes is too long: MQTT 5 allows at most 65535`},
		{name: "--content-type not UTF-8", args: pub("-t", "a", "-m", "x", "--content-type", "\xff\xfe"), code: 2, want: `--content-type "\\xff\\xfe" is not valid UTF-8: MQTT 5 carries it as UTF-8 text`},
		{name: "--user-property not UTF-8", args: pub("-t", "a", "-m", "x", "--user-property", "k=\xff"), code: 2, want: `--user-property value of "k" "\\xff" is not valid UTF-8`},
		{name: "--max-reconnects negative", args: pub("-t", "a", "-m", "x", "--max-reconnects", "-1"), code: 2, want: `"-1" for max-reconnects: must not be negative`},
		{name: "IOTCTL_MAX_RECONNECTS not a number", args: pub("-t", "a", "-m", "x"), env: []string{"IOTCTL_MAX_RECONNECTS=many"}, code: 2, want: `"many" for max-reconnects: want a whole number.*IOTCTL_MAX_RECONNECTS`},

		// Flags and values.
		{name: "malformed --user-property", args: pub("-t", "a", "-m", "x", "--user-property", "novalue"), code: 2, want: `--user-property "novalue": want key=value`},
		{name: "--user-property with empty key", args: pub("-t", "a", "-m", "x", "--user-property", "=v"), code: 2, want: `--user-property "=v": want key=value`},
		{name: "bad duration --interval", args: pub("-t", "a", "-m", "x", "--interval", "soon"), code: 2, want: `invalid duration "soon": want e\.g\.`},
		{name: "bad duration --keepalive", args: pub("-t", "a", "-m", "x", "--keepalive", "soon"), code: 2, want: `invalid argument "soon" for "--keepalive" flag: invalid duration "soon": want e\.g\.`},
		{name: "bad duration sub -W", args: sub("-t", "a", "-W", "5parsecs"), code: 2, want: `invalid duration "5parsecs": want e\.g\.`},
		{name: "negative duration --message-expiry", args: pub("-t", "a", "-m", "x", "--message-expiry", "-1s"), code: 2, want: `invalid duration "-1s"`},
		{name: "too short --message-expiry", args: pub("-t", "a", "-m", "x", "--message-expiry", "500ms"), code: 2, want: `--message-expiry 500ms: must be between 1s and`},
		{name: "bad duration in env", args: pub("-t", "a", "-m", "x"), env: []string{"IOTCTL_KEEPALIVE=soon"}, code: 2, want: `IOTCTL_KEEPALIVE`},
		{name: "negative --count", args: pub("-t", "a", "-m", "x", "--count", "-1"), code: 2, want: `--count -1: must be at least 1`},
		{name: "negative sub -C", args: sub("-t", "a", "-C", "-5"), code: 2, want: `-C -5: the count must not be negative`},
		{name: "negative --port", args: pub("-t", "a", "-m", "x", "--port", "-1"), code: 2, want: `"-1" for port: must not be negative`},
		{name: "negative --rate", args: pub("-t", "a", "-m", "x", "--rate", "-5"), code: 2, want: `--rate -5: must not be negative`},
		{name: "--retain-handling 3", args: sub("-t", "a", "--retain-handling", "3"), code: 2, want: `--retain-handling 3: use 0 .*, 1 .* or 2`},
		{name: "--will-qos 3", args: pub("-t", "a", "-m", "x", "--will-topic", "w", "--will-qos", "3"), code: 2, want: `"3" for will-qos: want one of 0, 1, 2`},
		{name: "two message sources", args: pub("-t", "a", "-m", "x", "-n"), code: 2, want: `give only one of -m, -f, --stdin`},
		{name: "no message source", args: pub("-t", "a"), code: 2, want: `no message: give one of -m MSG, -f FILE`},
		{name: "bad -F template", args: sub("-t", "a", "-F", "{{.Nope}}"), code: 2, want: `-F: bad template: .*see 'iotctl sub --help' for the fields`},
		{name: "mosquitto -F format", args: sub("-t", "a", "-F", "%t %p"), code: 2, want: `looks like a mosquitto_sub format: .*Go template`},
		{name: "--payload-format utf8 with binary", args: pub("-t", "a", "-f", w.notUTF8, "--payload-format", "utf8"), code: 2, want: `not valid UTF-8: use --payload-format bytes`},
		{name: "--payload-format unknown", args: pub("-t", "a", "-m", "x", "--payload-format", "ebcdic"), code: 2, want: `--payload-format "ebcdic": use utf8 or bytes`},
		{name: "-o xml", args: pub("-t", "a", "-m", "x", "-o", "xml"), code: 2, want: `invalid value "xml" for output: want one of text, json`},
		{name: "endpoint with ftp scheme", args: []string{"pub", "--endpoint", "ftp://127.0.0.1", "-t", "a", "-m", "x"}, code: 2, want: `scheme "ftp" is not one of mqtt, mqtts, ws, wss`},
		{name: "endpoint with bad port", args: []string{"pub", "--endpoint", "127.0.0.1:99999", "-t", "a", "-m", "x"}, code: 2, want: `bad port "99999"`},
		{name: "unknown flag", args: pub("-t", "a", "-m", "x", "--qos-level", "1"), code: 2, want: `unknown flag: --qos-level`},

		// Authentication settings and files.
		{name: "unknown --auth", args: pub("-t", "a", "-m", "x", "--auth", "kerberos"), code: 2, want: `invalid value "kerberos" for auth: want one of none, userpass`},
		{name: "conflicting auth settings", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.keyFile, "--pkcs12-file", w.p12File), code: 2, want: `conflicting auth settings: mtls .* and pkcs12 .*: choose one with --auth`},
		{name: "userpass without username", args: pub("-t", "a", "-m", "x", "--auth", "userpass"), code: 2, want: `auth userpass needs --username or --password`},
		{name: "missing cert file", args: pub("-t", "a", "-m", "x", "--cert", filepath.Join(w.dir, "nope.pem"), "--key", w.keyFile), code: 2, want: `certificate file .*nope\.pem: no such file or directory: check --cert`},
		{name: "missing key file", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", filepath.Join(w.dir, "nope.key")), code: 2, want: `key file .*nope\.key: no such file or directory: check --key`},
		{name: "unreadable cert file", args: pub("-t", "a", "-m", "x", "--cert", w.unreadable, "--key", w.keyFile), code: 2, want: `certificate file .*: (permission denied|input/output error|is a directory): check --cert`},
		{name: "unreadable key file", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.unreadable), code: 2, want: `key file .*: (permission denied|input/output error|is a directory): check --key`},
		{name: "cert path is a folder", args: pub("-t", "a", "-m", "x", "--cert", w.dirPath, "--key", w.keyFile), code: 2, want: `certificate file .*: is a directory: check --cert`},
		{name: "empty cert file", args: pub("-t", "a", "-m", "x", "--cert", w.emptyFile, "--key", w.keyFile), code: 2, want: `certificate file .*: the file is empty: check --cert`},
		{name: "empty key file", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.emptyFile), code: 2, want: `key file .*: the file is empty: check --key`},
		{name: "non-PEM cert file", args: pub("-t", "a", "-m", "x", "--cert", w.notPEM, "--key", w.keyFile), code: 2, want: `certificate file .*: no PEM data in it .*give a PEM file`},
		{name: "non-PEM key file", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.notPEM), code: 2, want: `key file .*: no PEM data in it .*give a PEM file`},
		{name: "key in the cert file", args: pub("-t", "a", "-m", "x", "--cert", w.keyFile, "--key", w.keyFile), code: 2, want: `holds a private key .*not a certificate: were --cert and --key swapped\?`},
		{name: "cert in the key file", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.certFile), code: 2, want: `holds a certificate, not a private key: were --cert and --key swapped\?`},
		{name: "key not matching the cert", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.otherKey), code: 2, want: `does not match the certificate in .*: give the private key that belongs to this certificate`},
		{name: "expired cert", args: pub("-t", "a", "-m", "x", "--cert", w.expiredCert, "--key", w.expiredKey), code: 2, want: `certificate "CN=expired-client" expired on .*: use a current certificate`},
		{name: "encrypted key without password", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.encKey), code: 2, want: `is encrypted: give its password with --key-password`},
		{name: "wrong key password", args: pub("-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.encKey, "--key-password", "wrong"), code: 2, want: `wrong password for key file .*: check --key-password`},
		{name: "CA file not PEM", args: pub("-t", "a", "-m", "x", "--ca-file", w.notPEM), code: 2, want: `CA file .*: no PEM certificate in it: give --ca-file a PEM file`},
		{name: "missing password file", args: pub("-t", "a", "-m", "x", "--username", "u", "--password-file", filepath.Join(w.dir, "nope.txt")), code: 2, want: `password file .*nope\.txt: no such file or directory: check --password-file`},
		{name: "client cert over mqtt://", args: []string{"pub", "--endpoint", "mqtt://" + w.closed, "-t", "a", "-m", "x", "--cert", w.certFile, "--key", w.keyFile}, code: 2, want: `a client certificate needs TLS .*: use mqtts:// or wss://`},
		{name: "wrong PKCS#12 password", args: pub("-t", "a", "-m", "x", "--pkcs12-file", w.p12File, "--pkcs12-password", "wrong"), code: 2, want: `wrong PKCS#12 password for .*: check --pkcs12-password`},
		{name: "PKCS#12 without password", args: pub("-t", "a", "-m", "x", "--pkcs12-file", w.p12File), code: 2, want: `is protected by a password: give it with --pkcs12-password`},
		{name: "PKCS#12 file that is PEM", args: pub("-t", "a", "-m", "x", "--pkcs12-file", w.certFile, "--pkcs12-password", "x"), code: 2, want: `is a PEM file, not PKCS#12: give PEM files with --cert and --key`},
		{name: "PKCS#11 library missing", args: pub("-t", "a", "-m", "x", "--auth", "pkcs11", "--pkcs11-lib", filepath.Join(w.dir, "libnope.so"), "--pkcs11-pin", "1"), code: 2, want: `PKCS#11 library .*libnope\.so: no such file or directory: check --pkcs11-lib`},
		{name: "PKCS#11 library not a library", args: pub("-t", "a", "-m", "x", "--auth", "pkcs11", "--pkcs11-lib", w.notPEM, "--pkcs11-pin", "1"), code: 2, want: `could not be loaded: .*check --pkcs11-lib`},
		{name: "PKCS#11 wrong PIN", needs: "softhsm", args: pub("-t", "a", "-m", "x", "--auth", "pkcs11", "--pkcs11-lib", w.softhsmLib, "--pkcs11-token-label", w.softhsmToken, "--pkcs11-pin", "0000-wrong"), env: hsmEnv, code: 2, want: `wrong PIN for .*: check --pkcs11-pin`},
		{name: "winstore off Windows", args: pub("-t", "a", "-m", "x", "--auth", "winstore", "--cert-store", `CurrentUser\MY\`+thumb), code: 2, want: `(?i)windows`},
		{name: "sigv4 custom domain without region", args: []string{"pub", "--endpoint", "iot.example.com", "--auth", "sigv4", "-t", "a", "-m", "x"}, code: 2, want: `no signing region: endpoint iot\.example\.com is not an AWS IoT endpoint .*: give --region`},
		{name: "custom auth: half a token triple", args: pub("-t", "a", "-m", "x", "--auth", "custom", "--authorizer-name", "auth", "--token-key-name", "tok", "--token-value", "abc"), code: 2, want: `--token-signature missing: give --token-key-name, --token-value and --token-signature together, or none`},
		{name: "custom auth: websocket over mqtt://", args: []string{"pub", "--endpoint", "mqtt://" + w.closed, "-t", "a", "-m", "x", "--auth", "custom", "--authorizer-name", "a", "--transport", "websocket"}, code: 2, want: `--transport websocket does not fit endpoint`},

		// Proxies.
		{name: "malformed proxy URL", args: pub("-t", "a", "-m", "x", "--proxy", "http://[::1"), code: 2, want: `proxy .*: not a URL: give --proxy http://\[user:pass@\]host:port`},
		{name: "proxy URL without port", args: pub("-t", "a", "-m", "x", "--proxy", "http://127.0.0.1"), code: 2, want: `no port: give --proxy http://host:port`},
		{name: "--proxy and --proxy-host", args: pub("-t", "a", "-m", "x", "--proxy", "http://127.0.0.1:3128", "--proxy-host", "127.0.0.1", "--proxy-port", "3128"), code: 2, want: `both --proxy and --proxy-host/--proxy-port are set: give only --proxy`},
		{name: "proxy unreachable", args: live("pub", "-t", "a", "-m", "x", "--proxy", "http://"+w.closed), code: 3, want: `proxy .*connection refused.*check --proxy`},
		{name: "proxy 407 without credentials", needs: "tinyproxy", args: live("pub", "-t", "a", "-m", "x", "--proxy", "http://"+w.proxyAuthAddr), code: 3, want: `407`},

		// Profiles.
		{name: "unknown profile", args: pub("-t", "a", "-m", "x", "--profile", "nope"), home: writeProfile("dev", "endpoint: localhost\n", 0o600), code: 2, want: `profile not found: "nope" \(known profiles: dev\)`},
		{name: "malformed profile YAML", args: pub("-t", "a", "-m", "x", "--profile", "bad"), home: writeProfile("bad", "endpoint: [unclosed\n", 0o600), code: 2, want: `malformed profile .*bad\.yaml: .*fix the YAML`},
		{name: "unknown profile key", args: pub("-t", "a", "-m", "x", "--profile", "typo"), home: writeProfile("typo", "enpoint: localhost\n", 0o600), code: 2, want: `unknown setting "enpoint" in .*typo\.yaml: did you mean "endpoint"\?`},
		{name: "profile value of the wrong type", args: pub("-t", "a", "-m", "x", "--profile", "ka"), home: writeProfile("ka", "keepalive: soon\n", 0o600), code: 2, want: `"soon" for keepalive: want a duration`},
		// Issue 13, item 6: an error caused by a profile setting names the
		// profile and its file, the command line never having said --cert.
		{name: "cert of the current profile", args: []string{"pub", "-t", "a", "-m", "x"}, home: currentProfile("dev", "endpoint: localhost\ncert: /nonexistent.pem\nkey: /nonexistent.key\n"), code: 2, want: `certificate file /nonexistent\.pem: .*: check --cert \(from profile dev, ~/\.iotctl/profiles/dev\.yaml\)$`},
		{name: "CA file of a --profile", args: []string{"pub", "-t", "a", "-m", "x", "--profile", "ca", "--endpoint", "mqtts://" + strings.TrimPrefix(w.closed, "mqtt://")}, home: writeProfile("ca", "ca-file: /nonexistent-ca.pem\n", 0o600), code: 2, want: `CA file /nonexistent-ca\.pem \(ca-file from profile ca, ~/\.iotctl/profiles/ca\.yaml\): no such file`},
		{name: "--profile '' ignores the current profile", args: []string{"pub", "-t", "a", "-m", "x", "--endpoint", w.closed, "--profile", ""}, home: currentProfile("dev", "cert: /nonexistent.pem\nkey: /nonexistent.key\n"), code: 3, want: `connect to .*`},
		{name: "world-readable profile still works", args: []string{"--profile", "open", "profile", "show"}, home: writeProfile("open", "endpoint: localhost\n", 0o644), code: 0, stdout: true, warn: `profile file .*open\.yaml is readable by others \(mode 0644\): run chmod 600`},

		// Connecting.
		{name: "endpoint unreachable", args: pub("-t", "a", "-m", "x"), code: 3, want: `connect to 127\.0\.0\.1:\d+: connection refused: check that the broker runs`},
		{name: "DNS failure", args: []string{"pub", "--endpoint", strings.Repeat("n", 64) + ".invalid", "-t", "a", "-m", "x"}, env: []string{"GODEBUG=netdns=go"}, code: 3, want: `cannot resolve host .*: check --endpoint`},
		{name: "TLS hostname mismatch", args: []string{"pub", "--endpoint", strings.Replace(w.tlsURL, "127.0.0.1", "localhost", 1), "--ca-file", w.caFile, "-t", "a", "-m", "x"}, code: 3, want: `TLS handshake with localhost:\d+: .*valid for other\.test, not localhost.*check --endpoint`},
		{name: "self-signed server without --ca-file", args: []string{"pub", "--endpoint", w.selfSignedURL, "-t", "a", "-m", "x"}, code: 3, want: `unknown authority: pass its CA with --ca-file`},
		{name: "TLS 1.1-only server", args: []string{"pub", "--endpoint", w.tls11URL, "--insecure", "-t", "a", "-m", "x"}, code: 3, warn: `--insecure`, want: `TLS handshake with .*protocol version.*TLS 1.2 or later is required`},
		{name: "CONNACK not authorized", args: live("pub", "-t", "a", "-m", "x", "--client-id", "unauth-1"), code: 4, want: `connect to 127\.0\.0\.1:\d+ as client ID "unauth-1": not authorized \(0x87\).*: check that the IoT policy allows iot:Connect`},
		{name: "CONNACK bad credentials", args: live("pub", "-t", "a", "-m", "x", "--username", "denied", "--password", "pw"), code: 4, want: `connect to 127\.0\.0\.1:\d+ as client ID .*: bad user name or password \(0x86\).*: check the credentials`},
		{name: "SUBACK refused", args: live("sub", "-t", "forbidden/a", "-q", "1"), code: 4, want: `subscribe to forbidden/a: not authorized \(0x87\): check that the IoT policy allows iot:Subscribe`},
		{name: "PUBACK refused", args: live("pub", "-t", "forbidden/a", "-m", "x", "-q", "1"), code: 4, want: `publish to forbidden/a: not authorized \(0x87\): check that the IoT policy allows iot:Publish`},

		// Sources and endings.
		{name: "-f file missing", args: pub("-t", "a", "-f", filepath.Join(w.dir, "nope.bin")), code: 2, want: `-f .*nope\.bin: no such file or directory`},
		{name: "--stdin closed at once publishes an empty message", args: live("pub", "-t", "badinput/stdin", "--stdin", "-q", "1"), code: 0,
			check: func(t *testing.T, r clitest.Result) {
				got := w.hook.stdinPayloads()
				if len(got) != 1 || len(got[0]) != 0 {
					t.Errorf("the broker got %q on badinput/stdin, want one empty message (cmd/pub documents: an empty input publishes an empty message)", got)
				}
			}},
		{name: "sub -W timeout", args: live("sub", "-t", "badinput/none", "-W", "1s"), code: 5, want: `timed out after 1s: no message on "badinput/none": check that something publishes there, or raise -W`},
		{name: "sub -W timeout before -C", args: live("sub", "-t", "badinput/none", "-W", "1s", "-C", "2"), code: 5, want: `received 0 of 2 messages .*raise -W`},
		{name: "empty --client-id: pub works", args: live("pub", "-t", "badinput/cid", "-m", "x", "-q", "1", "--client-id", ""), code: 0},
		{name: "empty --client-id: sub gets a server-assigned ID", args: live("sub", "-t", "badinput/retained", "-C", "1", "--client-id", ""), code: 0, stdout: true,
			check: func(t *testing.T, r clitest.Result) {
				if r.Stdout != "kept\n" {
					t.Errorf("stdout %q, want the retained message", r.Stdout)
				}
			}},
	}
}

var (
	panicRE = regexp.MustCompile(`(?m)panic|^goroutine \d+|DATA RACE|\.go:\d+`)
	warnRE  = regexp.MustCompile(`^iotctl: warning: `)
)

func TestBadInput(t *testing.T) {
	w := newWorld(t)
	// The retained message the empty-client-ID sub receives.
	if err := w.broker.Publish("badinput/retained", []byte("kept"), true, 0); err != nil {
		t.Fatal(err)
	}
	all := cases(w)
	if len(all) < 40 {
		t.Fatalf("only %d cases; the issue asks for at least 40", len(all))
	}
	var tried int
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.needs == "softhsm" && w.softhsmLib == "",
				tc.needs == "tinyproxy" && w.proxyAuthAddr == "":
				if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
					t.Fatalf("%s is missing and IOTCTL_REQUIRE_PEERS=1", tc.needs)
				}
				t.Skipf("%s is not installed", tc.needs)
			}
			home := t.TempDir()
			if tc.home != nil {
				tc.home(t, home)
			}
			var stdin io.Reader = strings.NewReader(tc.stdin)
			if tc.stdinFile != "" {
				f, err := os.Open(tc.stdinFile)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdin = f
			}
			r := clitest.Run(t, clitest.Opts{Args: tc.args, Env: clitest.Env(home, tc.env...), Stdin: stdin})
			tried++
			checkResult(t, tc, r)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	t.Logf("RELIABILITY bad_inputs=%d cases=%d", tried, len(all))
}

func checkResult(t *testing.T, tc badCase, r clitest.Result) {
	t.Helper()
	show := func() string { return fmt.Sprintf("\nstdout: %q\nstderr: %q", clip(r.Stdout), r.Stderr) }
	if r.Code != tc.code {
		t.Errorf("exit %d, want %d%s", r.Code, tc.code, show())
	}
	if panicRE.MatchString(r.Stderr) {
		t.Errorf("stderr has a panic, stack trace or race report%s", show())
	}
	if r.Stdout != "" && !tc.stdout {
		t.Errorf("stdout is not empty%s", show())
	}
	var errLines, warnLines, other []string
	for _, l := range strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n") {
		switch {
		case l == "":
		case warnRE.MatchString(l):
			warnLines = append(warnLines, l)
		case strings.HasPrefix(l, "iotctl: "):
			errLines = append(errLines, l)
		default:
			other = append(other, l)
		}
	}
	if r.Stderr != "" && !strings.HasSuffix(r.Stderr, "\n") {
		t.Errorf("stderr does not end with a newline%s", show())
	}
	if len(other) > 0 {
		t.Errorf("stderr has lines that are not 'iotctl: ' lines: %q%s", other, show())
	}
	switch {
	case tc.warn == "" && len(warnLines) > 0:
		t.Errorf("unexpected warnings %q%s", warnLines, show())
	case tc.warn != "" && len(warnLines) != 1:
		t.Errorf("want exactly one warning matching %q, got %q%s", tc.warn, warnLines, show())
	case tc.warn != "" && !regexp.MustCompile(tc.warn).MatchString(warnLines[0]):
		t.Errorf("warning %q does not match %q", warnLines[0], tc.warn)
	}
	if tc.want == "" {
		if len(errLines) > 0 {
			t.Errorf("want no error line, got %q%s", errLines, show())
		}
		return
	}
	if len(errLines) != 1 {
		t.Errorf("want exactly one 'iotctl: ' error line, got %d%s", len(errLines), show())
		return
	}
	if !regexp.MustCompile(tc.want).MatchString(errLines[0]) {
		t.Errorf("error line\n  %s\ndoes not match\n  %s", errLines[0], tc.want)
	}
	t.Logf("stderr: %s", errLines[0])
	if tc.noRemedy != "" {
		t.Logf("MISSING-REMEDY %s: %q: %s", tc.name, errLines[0], tc.noRemedy)
	}
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// SIGTERM while pub reads a --stdin that never ends (nor sends anything)
// ends it at once with 130, before any connection.
func TestSignalWhileReadingStdin(t *testing.T) {
	for _, args := range [][]string{{"--stdin"}, {"-f", "/dev/stdin"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			if _, err := pw.Write([]byte("some input, and then nothing")); err != nil {
				t.Fatal(err)
			}
			p := clitest.Start(t, clitest.Opts{Args: append([]string{"pub", "--endpoint", "127.0.0.1:1", "-t", "a", "-v"}, args...), Stdin: pr})
			pr.Close() // the child has its own copy
			p.WaitStderr(t, "reading "+strings.Join(args, " "), 20*time.Second)
			if err := p.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code := p.Wait(t, 10*time.Second)
			if code != 130 {
				t.Fatalf("exit %d, want 130\nstderr: %s", code, p.Stderr.String())
			}
			// -f prints its "reading" line before it opens the file (an open
			// of a FIFO blocks until a writer comes): on a loaded machine the
			// signal may come while the open still runs.
			stderr := p.Stderr.String()
			prefix := "iotctl: " + strings.Join(args, " ") + ": interrupted while "
			if !strings.HasSuffix(stderr, prefix+"reading the input\n") && (args[0] != "-f" || !strings.HasSuffix(stderr, prefix+"opening the input\n")) {
				t.Fatalf("stderr %q, want one line saying it was interrupted while reading", stderr)
			}
		})
	}
}
