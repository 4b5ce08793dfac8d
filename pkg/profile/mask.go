package profile

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Masked stands for a secret wherever one would be printed.
const Masked = "****"

// MaskURL hides the password of a URL's user info: http://bob:pw@host:3128
// is printed http://bob:****@host:3128. The user name stays, as curl and
// Go's url.Redacted keep it. Text that does not parse as a URL is masked
// from the first ':' after the scheme to the last '@', so a password with
// characters a URL may not hold (a raw '#', '/' or '?') is hidden too. A
// missing scheme is allowed (bob:pw@host:3128, as --proxy accepts).
func MaskURL(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	rest := s[start:]
	full := s
	if start == 0 {
		full = "x://" + s
	}
	u, err := url.Parse(full)
	if err == nil && u.Opaque == "" && u.User != nil {
		if _, has := u.User.Password(); !has {
			return s
		}
		authority := rest
		if i := strings.IndexAny(authority, "/?#"); i >= 0 {
			authority = authority[:i]
		}
		at := strings.LastIndexByte(authority, '@')
		if colon := strings.IndexByte(authority[:max(at, 0)], ':'); at >= 0 && colon >= 0 {
			return s[:start] + rest[:colon] + ":" + Masked + rest[at:]
		}
		return s
	}
	if err == nil && ambiguousUserinfo(rest) {
		// "alice:pa?ss@host" parses as host alice, port "pa", query
		// "ss@host": mask as if the ? were part of the password.
		at := strings.LastIndexByte(rest, '@')
		colon := strings.IndexByte(rest[:at], ':')
		return s[:start] + rest[:colon] + ":" + Masked + rest[at:]
	}
	if err == nil {
		return s
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return s
	}
	return s[:start] + rest[:colon] + ":" + Masked + rest[at:]
}

// MaskProxyURL is MaskURL for a proxy, whose user name alone is often a
// token (http://TOKEN@proxy:3128): a user name without a password is
// hidden too, and so is user info that a raw '#', '/' or '?' keeps from
// parsing as such (http://****@proxy:3128).
func MaskProxyURL(s string) string {
	if m := MaskURL(s); m != s {
		return m
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	rest := s[start:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	if strings.ContainsAny(rest[:at], "/?#") && strings.ContainsAny(rest[at+1:], "/?#") {
		return s // an '@' in the path, query or fragment
	}
	if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
		return s[:start] + rest[:colon] + ":" + Masked + rest[at:]
	}
	return s[:start] + Masked + rest[at:]
}

// urlInText finds scheme://… runs in free text, such as an error from
// net/url or a dialer that quotes the URL it was given. Compiled at first use.
var urlInText = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s]*@[^\s]*`)
})

// MaskURLs masks the password of every URL in text (see MaskURL). Errors
// are passed through it before they are printed, so a URL a library echoes
// back does not show its password.
func MaskURLs(text string) string {
	if !strings.Contains(text, "@") || !strings.Contains(text, "://") {
		return text
	}
	return urlInText().ReplaceAllStringFunc(text, func(u string) string {
		// http://[user:pass@]host:port is how help text spells a URL.
		if i := strings.Index(u, "://"); strings.HasPrefix(u[i+3:], "[") {
			return u
		}
		return MaskURL(u)
	})
}

// maskIn masks every occurrence of a setting's raw value in text: a value
// may be a URL without a scheme, which MaskURLs cannot recognise.
func maskIn(text, raw string) string {
	if shown := MaskURL(raw); shown != raw && raw != "" {
		text = strings.ReplaceAll(text, raw, shown)
	}
	return MaskURLs(text)
}

// ambiguousUserinfo: rest (a URL after its scheme) has an @ after a colon
// that does not start a port followed by a path: a raw ? or # in a
// password ("alice:pa?ss@host", "alice:12#x@host") made the parser see a
// host and a query or fragment. A colon followed by digits and a / is a
// port, and an @ in the path or query after it is no password.
func ambiguousUserinfo(rest string) bool {
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return false
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return false
	}
	if strings.IndexByte(rest[:colon], '/') >= 0 {
		return false // the colon is in the path or query
	}
	after := rest[colon+1 : at]
	i := 0
	for i < len(after) && after[i] >= '0' && after[i] <= '9' {
		i++
	}
	return !(i > 0 && i < len(after) && after[i] == '/')
}
