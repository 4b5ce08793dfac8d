package profile

import (
	"errors"
	"fmt"
	"testing"
)

type kindErr struct{ error }

func TestAttribute(t *testing.T) {
	fromProfile := &Settings{Profile: "dev", ProfilePath: "/p/dev.yaml", Entries: []Entry{
		{Name: "cert", Source: FromProfile},
		{Name: "key", Source: FromFlag},
		{Name: "key-password", Source: FromProfile},
		{Name: "endpoint", Source: FromProfile},
		{Name: "ca-file", Source: FromDefault},
		{Name: "proxy-ca-file", Value: "/p/proxy-ca.pem", Source: FromProfile},
	}}
	const note = " (from profile dev, /p/dev.yaml)"
	tests := []struct {
		name string
		s    *Settings
		msg  string
		want string
	}{
		{"cert from the profile", fromProfile, "certificate file /x.pem: no such file: check --cert", "certificate file /x.pem: no such file: check --cert" + note},
		{"after the flag, not at the end", fromProfile, "--endpoint: bad port: give host:port", "--endpoint" + note + ": bad port: give host:port"},
		{"a flag from the command line", fromProfile, "key file /k.pem: no such file: check --key", "key file /k.pem: no such file: check --key"},
		{"--key is not --key-password", fromProfile, "wrong password for key file /k.pem: check --key-password or IOTCTL_KEY_PASSWORD", "wrong password for key file /k.pem: check --key-password" + note + " or IOTCTL_KEY_PASSWORD"},
		{"a default", fromProfile, "TLS handshake: check --ca-file", "TLS handshake: check --ca-file"},
		{"--cert inside a word", fromProfile, "x--certain", "x--certain"},
		{"first of two", fromProfile, "check --endpoint and --cert", "check --endpoint" + note + " and --cert"},
		{"a file, not a flag", fromProfile, "CA file /p/proxy-ca.pem: no such file or directory", "CA file /p/proxy-ca.pem (proxy-ca-file from profile dev, /p/dev.yaml): no such file or directory"},
		{"no profile", &Settings{Entries: []Entry{{Name: "cert", Source: FromProfile}}}, "check --cert", "check --cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := kindErr{errors.New(tt.msg)}
			got := tt.s.Attribute(base)
			if got.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			var k kindErr
			if !errors.As(got, &k) {
				t.Error("the original error is not in the chain")
			}
			if again := tt.s.Attribute(fmt.Errorf("wrapped: %w", got)); again.Error() != "wrapped: "+tt.want {
				t.Errorf("attributed twice: %q", again)
			}
		})
	}
	if fromProfile.Attribute(nil) != nil {
		t.Error("nil error")
	}
}
