package cmdutil

import (
	"bytes"
	"testing"
)

// A warning carries text from the broker or a proxy (a reason string, an
// HTTP body): its control characters are escaped, so it stays one line
// and cannot drive the terminal.
func TestWarningsEscaped(t *testing.T) {
	const hostile = "reason \x1b[2J\x1b]0;title\x07\rforged\niotctl: fake line \u202e"
	const want = `iotctl: warning: reason \x1b[2J\x1b]0;title\x07\rforged\niotctl: fake line \u202e` + "\n"
	ios, _, _, errOut := Test()
	(&Factory{IOStreams: ios}).Warn(hostile)
	if got := errOut.String(); got != want {
		t.Errorf("Factory.Warn wrote %q, want %q", got, want)
	}
	var b bytes.Buffer
	Warner(&b)(hostile)
	if got := b.String(); got != want {
		t.Errorf("Warner wrote %q, want %q", got, want)
	}
}
