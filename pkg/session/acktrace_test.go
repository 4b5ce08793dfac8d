package session

import "testing"

// --debug shows an acknowledgement's reason code under MQTT 5 and only its
// packet ID under 3.1.1, which has none.
func TestAckTrace(t *testing.T) {
	for _, tc := range []struct {
		id     uint16
		reason byte
		rs     string
		v311   bool
		want   string
	}{
		{7, 0, "", false, "id=7 reason=0x00"},
		{7, 0x87, "not authorized", false, "id=7 reason=0x87 not authorized"},
		{7, 0x87, "a\x1bb", false, `id=7 reason=0x87 a\x1bb`},
		{7, 0, "", true, "id=7"},
	} {
		if got := ackTrace(tc.id, tc.reason, tc.rs, tc.v311); got != tc.want {
			t.Errorf("ackTrace(%d, 0x%02X, %q, %t) = %q, want %q", tc.id, tc.reason, tc.rs, tc.v311, got, tc.want)
		}
	}
}
