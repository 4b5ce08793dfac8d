package sub

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/iotctl/iotctl/pkg/session"
)

func u32(v uint32) *uint32 { return &v }
func u8(v byte) *byte      { return &v }

var at = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("x", 3600))

func fullMessage() *session.Message {
	return &session.Message{
		Topic: "a/b", Payload: []byte("héllo <&>"), QoS: 1, Retain: true,
		Props: session.Properties{
			UserProperties:  []session.UserProperty{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}, {Key: "", Value: ""}},
			ContentType:     "text/plain",
			ResponseTopic:   "resp/t",
			CorrelationData: []byte{0, 1, 0xff},
			MessageExpiry:   u32(0),
			PayloadFormat:   u8(1),
			SubscriptionIDs: []int{3, 7},
		},
	}
}

func TestFormatRaw(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	m := &session.Message{Topic: "t/x", Payload: all}
	tests := []struct {
		name              string
		format            string
		verbose, noNL     bool
		output            string
		m                 *session.Message
		want              string
		wantJSONFromOflag bool
	}{
		{name: "raw binary", m: m, want: string(all) + "\n"},
		{name: "raw -F", format: "raw", output: "json", m: m, want: string(all) + "\n"},
		{name: "raw -N", noNL: true, m: m, want: string(all)},
		{name: "empty", m: &session.Message{Topic: "t"}, want: "\n"},
		{name: "-v", verbose: true, m: &session.Message{Topic: "t/x", Payload: []byte("p q")}, want: "t/x p q\n"},
		{name: "-v empty", verbose: true, m: &session.Message{Topic: "t/x"}, want: "t/x \n"},
		{name: "-F wins over -v", verbose: true, format: "raw", m: &session.Message{Topic: "t/x", Payload: []byte("p")}, want: "p\n"},
		{name: "-o json wins over -v", verbose: true, output: "json", m: &session.Message{Topic: "t/x", Payload: []byte("p")}, wantJSONFromOflag: true},
		{name: "-o json", output: "json", m: &session.Message{Topic: "t/x", Payload: []byte("p")}, wantJSONFromOflag: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fm, err := newFormatter(tt.format, tt.verbose, tt.noNL, tt.output)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fm.format([]byte("prefix"), tt.m, at)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(got), "prefix") {
				t.Fatalf("format did not append: %q", got)
			}
			got = got[len("prefix"):]
			if tt.wantJSONFromOflag {
				if _, ok := fm.(jsonFormat); !ok {
					t.Fatalf("-o json gave %T", fm)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatJSON(t *testing.T) {
	fm, _ := newFormatter("json", false, false, "text")
	got, err := fm.format(nil, fullMessage(), at)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"topic":"a/b","payload":"héllo <&>","qos":1,"retain":true,"properties":{"user_properties":[["k","v1"],["k","v2"],["",""]],"content_type":"text/plain","response_topic":"resp/t","correlation_data":"AAH/","message_expiry":0,"payload_format":1,"subscription_ids":[3,7]},"received_at":"2026-11-25T09:00:00.123456789Z"}` + "\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// Not UTF-8: base64, and no properties object when there are none.
	got, _ = fm.format(nil, &session.Message{Topic: "b", Payload: []byte{0xff, 0xfe, 0}}, at)
	want = `{"topic":"b","payload_base64":"//4A","qos":0,"retain":false,"received_at":"2026-11-25T09:00:00.123456789Z"}` + "\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Empty payload is "payload":"" (valid UTF-8), not left out.
	got, _ = fm.format(nil, &session.Message{Topic: "c"}, at)
	var j map[string]any
	if err := json.Unmarshal(got, &j); err != nil || j["payload"] != "" {
		t.Errorf("empty payload: %s (%v)", got, err)
	}
}

func TestFormatTemplate(t *testing.T) {
	tests := []struct {
		tmpl string
		noNL bool
		want string
	}{
		{`{{.Topic}} {{.Payload}}`, false, "a/b héllo <&>\n"},
		{`{{.Topic}}`, true, "a/b"},
		{`{{.QoS}} {{.Retain}} {{.PayloadBase64}}`, false, "1 true aMOpbGxvIDwmPg==\n"},
		{`{{.Properties.ContentType}}|{{.Properties.ResponseTopic}}|{{base64 .Properties.CorrelationData}}|{{hex .Properties.CorrelationData}}`, false, "text/plain|resp/t|AAH/|0001ff\n"},
		{`{{.Properties.User "k"}} {{.Properties.User "none"}}.`, false, "v1 .\n"},
		{`{{range .Properties.UserProperties}}{{index . 0}}={{index . 1}};{{end}}`, false, "k=v1;k=v2;=;\n"},
		{`{{json .Properties.SubscriptionIDs}} {{json .Topic}} {{.Properties.MessageExpiry}}`, false, "[3,7] \"a/b\" 0\n"},
		{`{{.ReceivedAt.UTC.Format "15:04:05"}}`, false, "09:00:00\n"},
		{`{{json .}}`, false, ""},
	}
	for _, tt := range tests {
		fm, err := newFormatter(tt.tmpl, false, tt.noNL, "text")
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		got, err := fm.format(nil, fullMessage(), at)
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		if tt.want == "" {
			if !json.Valid(got) {
				t.Errorf("%s: not JSON: %s", tt.tmpl, got)
			}
			continue
		}
		if string(got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.tmpl, got, tt.want)
		}
	}
	// A message without properties still has .Properties.
	fm, _ := newFormatter(`{{.Properties.ContentType}}x`, false, false, "")
	if got, err := fm.format(nil, &session.Message{Topic: "t"}, at); err != nil || string(got) != "x\n" {
		t.Errorf("no properties: %q %v", got, err)
	}
}

func TestFormatErrors(t *testing.T) {
	for _, f := range []string{"%t %p", "{{.Nope}}", "{{.Topic", `{{base64 .QoS}}`} {
		_, err := newFormatter(f, false, false, "text")
		if err == nil || errs.KindOf(err) != errs.Usage {
			t.Errorf("-F %q: %v, want a usage error", f, err)
		}
	}
}
