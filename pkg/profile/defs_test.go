package profile

import (
	"errors"
	"strings"
	"testing"
)

func TestClosest(t *testing.T) {
	for key, want := range map[string]string{"enpoint": "endpoint", "ca_fil": "ca-file", "CLIENTID": "client-id", "keep-alive": "keepalive"} {
		if got := Closest(key); got != want {
			t.Errorf("Closest(%q) = %q, want %q", key, got, want)
		}
	}
}

// profile set checks a thing name as AWS IoT would, so a profile never
// holds one the shadow and jobs commands refuse.
func TestValidateThingName(t *testing.T) {
	for _, ok := range []string{"dev-1", "a:b_c", strings.Repeat("x", 128)} {
		if err := ValidateValue("thing-name", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"a/b", "a+", "#", "sp ace", "é", strings.Repeat("x", 129)} {
		if err := ValidateValue("thing-name", bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%q: err = %v, want ErrInvalidValue", bad, err)
		}
	}
}
