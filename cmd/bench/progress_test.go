package bench

import (
	"bytes"
	"fmt"
	"testing"
)

// The status line on a terminal: drawn in place (cursor up, erase), cut to
// the width with "…", warnings printed above it and the line drawn again.
func TestStatusLine(t *testing.T) {
	var out bytes.Buffer
	n := 0
	s := &statusLine{out: &out, width: func() int { return 12 }, status: func() string {
		n++
		return fmt.Sprintf("status %d", n)
	}}
	if _, err := s.Write([]byte("iotctl: warning: before\n")); err != nil {
		t.Fatal(err)
	}
	s.update()
	if _, err := s.Write([]byte("iotctl: warning: during\n")); err != nil {
		t.Fatal(err)
	}
	s.status = func() string { return "a status wider than twelve columns" }
	s.update()
	want := "iotctl: warning: before\n" +
		"status 1\n" +
		"\x1b[1A\x1b[Jiotctl: warning: during\nstatus 1\n" +
		"\x1b[1A\x1b[Ja status wi…\n"
	if got := out.String(); got != want {
		t.Errorf("terminal got\n%q\nwant\n%q", got, want)
	}
}

func TestFit(t *testing.T) {
	for _, tt := range []struct {
		text  string
		width int
		want  string
	}{
		{"abc", 0, "abc"}, {"abc", 3, "abc"}, {"abcd", 3, "ab…"}, {"abcd", 1, "…"},
	} {
		if got := fit(tt.text, tt.width); got != tt.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tt.text, tt.width, got, tt.want)
		}
	}
}
