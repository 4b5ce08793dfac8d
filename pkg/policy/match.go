package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MatchResource reports whether a Resource pattern of a 2012-10-17
// document matches a resource ARN, with policy variables taken from ctx.
// Matching is case-sensitive; `*` matches any characters (`/` included),
// `?` one character; `+` and `#` are plain characters.
func MatchResource(pattern, resource string, ctx Context) bool {
	return compile(pattern, true, &ctx).match(resource, false)
}

// MatchAction reports whether an Action pattern (iot:Publish, iot:Pub*,
// iot:*, *) matches an action. Actions are case-insensitive.
func MatchAction(pattern, action string) bool {
	return compile(pattern, false, nil).match(action, true)
}

// Escape returns a Resource pattern that matches s and nothing else:
// `*`, `?` and `$` become ${*}, ${?} and ${$}.
func Escape(s string) string {
	r := strings.NewReplacer("*", "${*}", "?", "${?}", "$", "${$}")
	return r.Replace(s)
}

type tokenKind uint8

const (
	tokLit tokenKind = iota
	tokStar
	tokOne
)

type token struct {
	kind tokenKind
	r    rune
}

// pattern is a compiled Action or Resource pattern. never is set when a
// policy variable has no value: IAM then lets the pattern match nothing.
type pattern struct {
	toks  []token
	never bool
}

// invalidBase keeps bytes of invalid UTF-8 distinct from each other and
// from every rune, so a pattern without wildcards matches only itself.
const invalidBase = utf8.MaxRune + 1

func decode(s string, i int) (rune, int) {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return invalidBase + rune(s[i]), 1
	}
	return r, n
}

// specials are the fixed-value variables for characters that otherwise
// have a meaning. IAM spells them ${*}; the AWS IoT guide writes $(*):
// both are accepted.
var specials = map[string]rune{
	"${*}": '*', "${?}": '?', "${$}": '$',
	"$(*)": '*', "$(?)": '?', "$($)": '$',
}

// compile parses p; with vars, escapes and ${…} variables are resolved
// against ctx (a nil ctx has no values). Substituted values are literal
// text, so a client ID of "*" is not a wildcard.
func compile(p string, vars bool, ctx *Context) pattern {
	var out pattern
	lit := func(s string) {
		for i := 0; i < len(s); {
			r, n := decode(s, i)
			out.toks = append(out.toks, token{kind: tokLit, r: r})
			i += n
		}
	}
	for i := 0; i < len(p); {
		c := p[i]
		if vars && c == '$' && i+3 < len(p) {
			if r, ok := specials[p[i:i+4]]; ok {
				out.toks = append(out.toks, token{kind: tokLit, r: r})
				i += 4
				continue
			}
		}
		if vars && c == '$' && i+1 < len(p) && p[i+1] == '{' {
			if end := strings.IndexByte(p[i+2:], '}'); end >= 0 {
				val, ok := ctx.lookup(p[i+2 : i+2+end])
				if !ok {
					return pattern{never: true}
				}
				lit(val)
				i += 2 + end + 1
				continue
			}
		}
		switch c {
		case '*':
			if n := len(out.toks); n == 0 || out.toks[n-1].kind != tokStar {
				out.toks = append(out.toks, token{kind: tokStar})
			}
			i++
		case '?':
			out.toks = append(out.toks, token{kind: tokOne})
			i++
		default:
			r, n := decode(p, i)
			out.toks = append(out.toks, token{kind: tokLit, r: r})
			i += n
		}
	}
	return out
}

// match is the classic wildcard match with one backtracking point: on a
// mismatch, the last `*` takes one more character.
func (p pattern) match(s string, fold bool) bool {
	if p.never {
		return false
	}
	in := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, n := decode(s, i)
		in = append(in, r)
		i += n
	}
	toks := p.toks
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(in) {
		if pi < len(toks) {
			switch t := toks[pi]; {
			case t.kind == tokOne || t.kind == tokLit && same(t.r, in[si], fold):
				pi++
				si++
				continue
			case t.kind == tokStar:
				star, starSi = pi, si
				pi++
				continue
			}
		}
		if star < 0 {
			return false
		}
		starSi++
		pi, si = star+1, starSi
	}
	for pi < len(toks) && toks[pi].kind == tokStar {
		pi++
	}
	return pi == len(toks)
}

func same(a, b rune, fold bool) bool {
	return a == b || fold && unicode.ToLower(a) == unicode.ToLower(b)
}
