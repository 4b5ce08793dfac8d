package policy

import (
	"strings"
	"testing"
)

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"topic/a/*", "topic/a/b/c"},
		{"a?c", "abc"},
		{"${iot:ClientId}/x", "c/x"},
		{"$(*)*", "*x"},
		{"a/+/#", "a/+/#"},
		{"*a*b*c*", "xxaxxbxxcxx"},
		{"\xff", "\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	ctx := Context{ClientID: "c", ThingName: "t", ThingAttributes: map[string]string{"k": "v"}}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		got := MatchResource(pattern, value, ctx)
		MatchAction(pattern, value)
		if !strings.ContainsAny(pattern, "*?$") && got != (pattern == value) {
			t.Fatalf("MatchResource(%q, %q) = %v: a pattern without wildcards must match exactly itself", pattern, value, got)
		}
		if !MatchResource(Escape(value), value, ctx) {
			t.Fatalf("Escape(%q) = %q does not match itself", value, Escape(value))
		}
		if MatchResource(Escape(pattern), value, ctx) != (pattern == value) {
			t.Fatalf("Escape(%q) = %q must match only %q, matched %q", pattern, Escape(pattern), pattern, value)
		}
		if !MatchResource("*", value, ctx) {
			t.Fatalf("* does not match %q", value)
		}
	})
}
