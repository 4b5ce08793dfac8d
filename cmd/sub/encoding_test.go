package sub

import (
	"context"
	"testing"
	"time"

	"github.com/iotctl/iotctl/pkg/session"
)

// --encoding prints raw payloads in hex or base64 (binary stays printable).
func TestEncodingOutput(t *testing.T) {
	ep := startBroker(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--encoding", "hex"}, "00ff0a41\n"},
		{[]string{"--encoding", "base64", "-v"}, "e/x AP8KQQ==\n"},
		{[]string{"--encoding", "text"}, "\x00\xff\nA\n"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p := startSub(t, ctx, ep, append([]string{"-t", "e/x", "-C", "1"}, tc.args...)...)
		p.waitSubscribed(t)
		publish(t, ep, &session.Message{Topic: "e/x", Payload: []byte("\x00\xff\nA"), QoS: 1})
		if code := p.wait(t); code != 0 || p.out.String() != tc.want {
			t.Errorf("%v: exit %d, output %q, want %q", tc.args, code, p.out.String(), tc.want)
		}
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := startSub(t, ctx, ep, "-t", "e/x", "-F", "json", "--encoding", "hex")
	if code := p.wait(t); code != 2 {
		t.Errorf("-F json --encoding hex: exit %d, want 2", code)
	}
}
