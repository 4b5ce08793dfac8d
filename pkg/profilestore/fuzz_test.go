package profilestore

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/iotctl/iotctl/pkg/profile"
	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds the profile parser any bytes: it must not panic, must
// fail only with ErrMalformed or ErrUnknownKey, and whatever it accepts must
// hold known settings with valid values that survive a write and a re-read
// (as profile set would write them).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"endpoint: a1b2-ats.iot.us-east-1.amazonaws.com\nport: 8883\ncert: ~/c.pem\n",
		"# comment only\n",
		"",
		"ca_file: ca.pem\nCLIENT_ID: test-1\nclean-start: false\nkeepalive: 30\n",
		"alpn: [x-amzn-mqtt-ca, mqtt]\ncognito-login:\n  - a=b\n  - c=d\n",
		"endpoint: [unclosed\n",
		"enpoint: x\n",
		"endpoint: x\nEndpoint: y\n",
		"keepalive: soon\n",
		"auth: kerberos\n",
		"endpoint: {a: b}\n",
		"port: 0x1bb\ninsecure: yes\n",
		"a: &x [*x]\n",
		"- just\n- a list\n",
		"password: \"p@ss: w#rd\"\nsession-expiry: 1h\n",
		"\xff\xfe: \x00\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, profile.ErrMalformed) && !errors.Is(err, profile.ErrUnknownKey) {
				t.Fatalf("error is neither profile.ErrMalformed nor profile.ErrUnknownKey: %v", err)
			}
			return
		}
		for k, v := range got {
			d, ok := profile.Lookup(k)
			if !ok {
				t.Fatalf("accepted unknown key %q", k)
			}
			if _, err := profile.ParseValue(d.Name, v); err != nil {
				t.Fatalf("accepted an invalid value %q for %s: %v", v, k, err)
			}
		}
		// Write the values as profile set does and read them back.
		doc := newDoc("fuzz")
		setKeys(doc.Content[0], got)
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			t.Fatalf("encode %v: %v", got, err)
		}
		enc.Close()
		back, err := Parse("fuzz.yaml", buf.Bytes())
		if err != nil {
			t.Fatalf("re-read of what was written failed: %v\nwritten:\n%s", err, buf.String())
		}
		if len(back) != len(got) {
			t.Fatalf("re-read %d settings, wrote %d:\n%s", len(back), len(got), buf.String())
		}
		for k, v := range got {
			d, _ := profile.Lookup(k)
			a, _ := profile.ParseValue(d.Name, v)
			b, err := profile.ParseValue(d.Name, back[k])
			if err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("%s: wrote %q (%v), read back %q (%v)\n%s", k, v, a, back[k], b, buf.String())
			}
		}
	})
}
