package profile

import "testing"

func TestClosest(t *testing.T) {
	for key, want := range map[string]string{"enpoint": "endpoint", "ca_fil": "ca-file", "CLIENTID": "client-id", "keep-alive": "keepalive"} {
		if got := Closest(key); got != want {
			t.Errorf("Closest(%q) = %q, want %q", key, got, want)
		}
	}
}
