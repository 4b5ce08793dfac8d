package limits

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/errs"
)

func TestFor(t *testing.T) {
	tests := []struct {
		setting, host, want string
	}{
		{"auto", "a1b2c3-ats.iot.us-east-1.amazonaws.com", "aws-iot"},
		{"auto", "A1B2C3-ATS.IOT.US-EAST-1.AMAZONAWS.COM", "aws-iot"},
		{"auto", "a1b2c3-ats.iot.us-east-1.amazonaws.com.", "aws-iot"},
		{"auto", "a1.ats.iot.cn-north-1.amazonaws.com.cn", "aws-iot"},
		{"", "x.amazonaws.com", "aws-iot"},
		{"auto", "localhost", "mqtt5"},
		{"auto", "amazonaws.com.example.org", "mqtt5"},
		{"auto", "notamazonaws.com", "mqtt5"},
		{"mqtt5", "x.amazonaws.com", "mqtt5"},
		{"aws-iot", "localhost", "aws-iot"},
		{"AWS-IOT", "localhost", "aws-iot"},
	}
	for _, tt := range tests {
		if got := For(tt.setting, tt.host).Name; got != tt.want {
			t.Errorf("For(%q, %q) = %s, want %s", tt.setting, tt.host, got, tt.want)
		}
	}
}

// check asserts err is nil when wantErr is "", else a usage error containing wantErr.
func check(t *testing.T, name string, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("%s: unexpected error %v", name, err)
	case wantErr != "" && err == nil:
		t.Errorf("%s: no error, want one containing %q", name, wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("%s: error %q, want it to contain %q", name, err, wantErr)
	case err != nil && errs.KindOf(err) != errs.Usage:
		t.Errorf("%s: error kind %v, want usage", name, errs.KindOf(err))
	}
}

func TestTopic(t *testing.T) {
	long := strings.Repeat("a", 65535)
	tests := []struct {
		rules   Rules
		topic   string
		wantErr string
	}{
		{MQTT5, "a", ""},
		{MQTT5, "/", ""},
		{MQTT5, "a//b/", ""},
		{MQTT5, "sensors/temp 1/é", ""},
		{MQTT5, "$SYS/x", ""},
		{MQTT5, long, ""},
		{MQTT5, long + "a", "too long: MQTT 5 allows at most 65535"},
		{MQTT5, "", "empty topic"},
		{MQTT5, "a/\x00", "U+0000"},
		{MQTT5, "a/\xff", "not valid UTF-8"},
		{MQTT5, "a/+", `wildcard '+'`},
		{MQTT5, "a/#", `wildcard '#'`},
		{MQTT5, "a#", `wildcard '#'`},
		{MQTT5, strings.Repeat("a/", 20) + "a", ""},
		{AWSIoT, "a/b/c/d/e/f/g/h", ""},
		{AWSIoT, "a/b/c/d/e/f/g/h/i", `topic "a/b/c/d/e/f/g/h/i" has 8 slashes: AWS IoT allows at most 7 (--limits aws-iot)`},
		{AWSIoT, strings.Repeat("x", 256), ""},
		{AWSIoT, strings.Repeat("x", 257), "has 257 bytes: AWS IoT allows at most 256 (--limits aws-iot)"},
		{AWSIoT, strings.Repeat("é", 129), "has 258 bytes"},
		{AWSIoT, "$aws/rules/myRule/a/b/c/d/e/f/g/h", ""},
		{AWSIoT, "$aws/rules/myRule/a/b/c/d/e/f/g/h/i", "has 8 slashes"},
		{AWSIoT, "$aws/rules/r/" + strings.Repeat("x", 256), ""},
		{AWSIoT, "$aws/things/t/shadow/update", ""},
		{AWSIoT, "$aws/things/t/shadow/name/n/update/delta", ""},
		{AWSIoT, "$aws/things/t/shadow/name/n/update/delta/x", "has 8 slashes"},
		{AWSIoT, "$SYS/x", "AWS IoT reserves $ topics"},
		{AWSIoT, "$share/g/a", "AWS IoT reserves $ topics"},
		{AWSIoT, "a/+", "wildcard"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" Topic("+quote(tt.topic)+")", tt.rules.Topic(tt.topic), tt.wantErr)
	}
}

func TestRetainTopic(t *testing.T) {
	tests := []struct {
		rules   Rules
		topic   string
		wantErr string
	}{
		{MQTT5, "a/b", ""},
		{MQTT5, "$x/b", ""},
		{MQTT5, "a/+", "wildcard"},
		{AWSIoT, "a/b", ""},
		{AWSIoT, "$aws/things/t/shadow/update", "does not retain messages on reserved $ topics"},
		{AWSIoT, "$other", "reserves $ topics"},
		{AWSIoT, "a/b/c/d/e/f/g/h/i", "8 slashes"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" RetainTopic("+tt.topic+")", tt.rules.RetainTopic(tt.topic), tt.wantErr)
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		rules   Rules
		filter  string
		wantErr string
	}{
		{MQTT5, "#", ""},
		{MQTT5, "+", ""},
		{MQTT5, "+/+", ""},
		{MQTT5, "a/#", ""},
		{MQTT5, "a/+/b/#", ""},
		{MQTT5, "/#", ""},
		{MQTT5, "//", ""},
		{MQTT5, "$SYS/#", ""},
		{MQTT5, "$share/g/a/+", ""},
		{MQTT5, "$share/g/#", ""},
		{MQTT5, "$share/g//", ""},
		{MQTT5, "$sharex/a", ""},
		{MQTT5, "", "empty filter"},
		{MQTT5, "a/#/b", "'#' is allowed only as the last level"},
		{MQTT5, "#/", "'#' is allowed only as the last level"},
		{MQTT5, "a#", "'#' must be a level of its own"},
		{MQTT5, "a/b#", "'#' must be a level of its own"},
		{MQTT5, "a+", "'+' must be a level of its own"},
		{MQTT5, "a/+b/c", "'+' must be a level of its own"},
		{MQTT5, "a/\x00", "U+0000"},
		{MQTT5, "\xc3", "not valid UTF-8"},
		{MQTT5, "$share", "no share name"},
		{MQTT5, "$share/", "empty share name"},
		{MQTT5, "$share//a", "empty share name"},
		{MQTT5, "$share/g", "no topic filter after the share name"},
		{MQTT5, "$share/g/", "no topic filter after the share name"},
		{MQTT5, "$share/g+/a", "share name containing + or #"},
		{MQTT5, "$share/#/a", "share name containing + or #"},
		{MQTT5, "$share/g/a/#/b", "only as the last level"},
		{MQTT5, strings.Repeat("+/", 30000) + "#", ""},
		{AWSIoT, "a/b/c/d/e/f/g/#", ""},
		{AWSIoT, "a/b/c/d/e/f/g/h/#", "has 8 slashes: AWS IoT allows at most 7 (--limits aws-iot)"},
		{AWSIoT, "a/b/c/d/e/f/g/h/i/j", `filter "a/b/c/d/e/f/g/h/i/j" has 9 slashes: AWS IoT allows at most 7`},
		{AWSIoT, "$share/grp/a/b/c/d/e/f/g/h", ""},
		{AWSIoT, "$share/grp/a/b/c/d/e/f/g/h/i", "has 8 slashes"},
		{AWSIoT, "$share/grp/" + strings.Repeat("x", 256), ""},
		{AWSIoT, "$share/grp/" + strings.Repeat("x", 257), "has 257 bytes"},
		{AWSIoT, "$share/" + strings.Repeat("n", 128) + "/a", ""},
		{AWSIoT, "$share/" + strings.Repeat("n", 129) + "/a", "share name of 129 characters: AWS IoT allows at most 128"},
		{AWSIoT, "$aws/things/+/shadow/update/accepted", ""},
		{AWSIoT, "$aws/events/presence/#", ""},
		{AWSIoT, "$share/g/$aws/things/+/shadow/#", ""},
		{AWSIoT, "$SYS/#", "only $aws/… may be subscribed to"},
		{AWSIoT, "$share/g/$SYS/#", "only $aws/… may be subscribed to"},
		{AWSIoT, strings.Repeat("x", 257), "has 257 bytes"},
		{AWSIoT, "a/#/b", "only as the last level"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" Filter("+quote(tt.filter)+")", tt.rules.Filter(tt.filter), tt.wantErr)
	}
}

func TestSubscriptions(t *testing.T) {
	tests := []struct {
		rules      Rules
		per, total int
		wantErr    string
	}{
		{MQTT5, 1000, 100000, ""},
		{AWSIoT, 8, 50, ""},
		{AWSIoT, 9, 9, "9 filters in one SUBSCRIBE: AWS IoT allows at most 8"},
		{AWSIoT, 8, 51, "51 subscriptions: AWS IoT allows at most 50 per connection"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" Subscriptions", tt.rules.Subscriptions(tt.per, tt.total), tt.wantErr)
	}
}

func TestPayload(t *testing.T) {
	tests := []struct {
		rules   Rules
		n       int
		wantErr string
	}{
		{MQTT5, 0, ""},
		{MQTT5, 268435455, ""},
		{MQTT5, 268435456, "payload of 268435456 bytes is too large: MQTT 5 allows at most 268435455 bytes"},
		{MQTT5, -1, "negative"},
		{AWSIoT, 131072, ""},
		{AWSIoT, 131073, "payload of 131073 bytes is too large: AWS IoT allows at most 131072 bytes (--limits aws-iot)"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" Payload", tt.rules.Payload(tt.n), tt.wantErr)
	}
}

func TestQoS(t *testing.T) {
	tests := []struct {
		rules   Rules
		q       int
		wantErr string
	}{
		{MQTT5, 0, ""},
		{MQTT5, 1, ""},
		{MQTT5, 2, ""},
		{MQTT5, 3, "QoS 3 is not a QoS level"},
		{MQTT5, -1, "not a QoS level"},
		{AWSIoT, 0, ""},
		{AWSIoT, 1, ""},
		{AWSIoT, 2, "QoS 2 is not supported: AWS IoT allows at most QoS 1 (--limits aws-iot)"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" QoS", tt.rules.QoS(tt.q), tt.wantErr)
	}
}

func TestClientID(t *testing.T) {
	tests := []struct {
		rules   Rules
		id      string
		wantErr string
	}{
		{MQTT5, "", ""},
		{MQTT5, "iotctl-abc", ""},
		{MQTT5, strings.Repeat("c", 65535), ""},
		{MQTT5, strings.Repeat("c", 65536), "at most 65535"},
		{MQTT5, "a\x00b", "U+0000"},
		{MQTT5, "a\xffb", "not valid UTF-8"},
		{AWSIoT, "", ""},
		{AWSIoT, strings.Repeat("c", 128), ""},
		{AWSIoT, strings.Repeat("c", 129), "has 129 bytes: AWS IoT allows at most 128 (--limits aws-iot)"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" ClientID", tt.rules.ClientID(tt.id), tt.wantErr)
	}
}

func TestKeepalive(t *testing.T) {
	tests := []struct {
		rules   Rules
		d       time.Duration
		wantErr string
	}{
		{MQTT5, 0, ""},
		{MQTT5, time.Second, ""},
		{MQTT5, 65535 * time.Second, ""},
		{MQTT5, 65536 * time.Second, "out of range: MQTT 5 allows 0 (off) to 18h12m15s"},
		{MQTT5, -time.Second, "negative"},
		{AWSIoT, 30 * time.Second, ""},
		{AWSIoT, 1200 * time.Second, ""},
		{AWSIoT, 29 * time.Second, "keepalive 29s is out of range: AWS IoT allows 30s to 20m0s (--limits aws-iot)"},
		{AWSIoT, 0, "out of range"},
		{AWSIoT, 1201 * time.Second, "out of range"},
	}
	for _, tt := range tests {
		check(t, tt.rules.Name+" Keepalive("+tt.d.String()+")", tt.rules.Keepalive(tt.d), tt.wantErr)
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in           string
		share, inner string
		wildcard     bool
	}{
		{"a/b", "", "a/b", false},
		{"a/+", "", "a/+", true},
		{"$share/g/a/#", "g", "a/#", true},
		{"$share/g/$aws/x", "g", "$aws/x", false},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.in)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tt.in, err)
		}
		if f.Share != tt.share || f.Filter != tt.inner || f.Wildcard() != tt.wildcard || f.String() != tt.in {
			t.Errorf("ParseFilter(%q) = %+v (wildcard %v, %q)", tt.in, f, f.Wildcard(), f.String())
		}
	}
}

func TestQuoteShortens(t *testing.T) {
	err := MQTT5.Topic(strings.Repeat("é", 100) + "+")
	if err == nil || len(err.Error()) > 250 || !utf8.ValidString(err.Error()) {
		t.Fatalf("long topic error not shortened to valid UTF-8: %v", err)
	}
}

func FuzzTopicFilter(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/+/#", "a/#/b", "$share/g/a/+", "$share//a", "$aws/rules/r/a/b/c/d/e/f/g/h", "a/b/c/d/e/f/g/h/i", "$SYS/x", "a\x00", "\xff", "", "/", "a+", "$share/g/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range []Rules{MQTT5, AWSIoT} {
			terr := r.Topic(s)
			_ = r.RetainTopic(s)
			ferr := r.Filter(s)
			for _, err := range []error{terr, ferr} {
				if err != nil && errs.KindOf(err) != errs.Usage {
					t.Fatalf("%s: error of kind %v: %v", r.Name, errs.KindOf(err), err)
				}
			}
			if terr == nil && ferr != nil && !strings.HasPrefix(s, "$share") {
				t.Fatalf("%s: %q is a valid topic but not a valid filter: %v", r.Name, s, ferr)
			}
			if ferr != nil {
				continue
			}
			pf, err := ParseFilter(s)
			if err != nil {
				t.Fatalf("%s: Filter accepted %q but ParseFilter did not: %v", r.Name, s, err)
			}
			if got := pf.String(); got != s {
				t.Fatalf("%s: %q round-trips to %q", r.Name, s, got)
			}
			if pf2, err := ParseFilter(pf.String()); err != nil || pf2 != pf {
				t.Fatalf("%s: %q parsed again as %+v, %v", r.Name, s, pf2, err)
			}
			if pf.Share == "" && !pf.Wildcard() && terr != nil {
				t.Fatalf("%s: %q is a valid filter without wildcards but not a valid topic: %v", r.Name, s, terr)
			}
			if pf.Wildcard() && terr == nil {
				t.Fatalf("%s: %q has a wildcard but is a valid topic", r.Name, s)
			}
		}
	})
}
