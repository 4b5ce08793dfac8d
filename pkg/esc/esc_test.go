package esc

import "testing"

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain text/with: punctuation", "plain text/with: punctuation"},
		{"caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"},
		{"\x1b]0;pwned\a\r\niotctl: all good", `\x1b]0;pwned\x07\r\niotctl: all good`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\x9b31m`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{"nul\x00", `nul\x00`},
		{"rtl\u202eevil", `rtl\u202eevil`},
		{"sep\u2028line", `sep\u2028line`},
		{"real \uFFFD stays", "real \uFFFD stays"},
		{`already \x1b escaped`, `already \x1b escaped`},
	} {
		got := String(tc.in)
		if got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := String(got); again != got {
			t.Errorf("String is not idempotent on %q: %q", got, again)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("\x1b[2J\r\n")
	f.Add("ok")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		for _, r := range out {
			if unsafe(r) {
				t.Fatalf("String(%q) = %q keeps %U", s, out, r)
			}
		}
		if String(out) != out {
			t.Fatalf("not idempotent: %q", s)
		}
	})
}
