package profile

import (
	"strings"
	"testing"
)

func TestMaskURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://bob:Pr0xyPW@host:3128", "http://bob:****@host:3128"},
		{"bob:Pr0xyPW@host:3128", "bob:****@host:3128"},
		{"mqtt://alice:S3cret@host", "mqtt://alice:****@host"},
		{"wss://alice:S3cret@host:443/mqtt?x=1", "wss://alice:****@host:443/mqtt?x=1"},
		{"mqtt://alice:p%40ss%3Aw@host", "mqtt://alice:****@host"},
		{"mqtt://alice:p@ss@host", "mqtt://alice:****@host"},            // unescaped @: up to the last one
		{"mqtt://alice:pa#ss@host:1883", "mqtt://alice:****@host:1883"}, // does not parse
		{"mqtt://alice:pa/ss@host", "mqtt://alice:****@host"},
		{"mqtt://:only-pw@host", "mqtt://:****@host"},
		{"mqtt://alice@host", "mqtt://alice@host"}, // a user name is not secret
		{"mqtt://host:1883", "mqtt://host:1883"},
		{"host", "host"},
		{"", ""},
		{"ws://host/path@x", "ws://host/path@x"},
		// A raw ? or # in the password parses as a query or fragment: the
		// password is still masked.
		{"mqtt://alice:pa?ss@host", "mqtt://alice:****@host"},
		{"mqtt://alice:12?ss@host", "mqtt://alice:****@host"},
		{"mqtt://al?ice:pw@host", "mqtt://al?ice:****@host"},
		{"alice:pa?ss@host:1883", "alice:****@host:1883"},
		{"wss://host:443/mqtt?token=a@b", "wss://host:443/mqtt?token=a@b"},
		{"wss://host/mqtt?a=b:c@d", "wss://host/mqtt?a=b:c@d"},
	}
	for _, tt := range tests {
		if got := MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A proxy's user name alone is often a token (http://TOKEN@proxy:3128):
// it is hidden too.
func TestMaskProxyURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://tok3n@proxy:3128", "http://****@proxy:3128"},
		{"tok3n@proxy:3128", "****@proxy:3128"},
		{"socks5h://tok3n@proxy", "socks5h://****@proxy"},
		{"http://bob:Pr0xyPW@host:3128", "http://bob:****@host:3128"},
		{"http://bob:12?Pr0xyPW@host:3128", "http://bob:****@host:3128"}, // parses as host bob, port 12
		{"http://tok#3n@host:3128", "http://****@host:3128"},
		{"http://proxy:3128", "http://proxy:3128"},
		{"http://proxy:3128/path@x/y", "http://proxy:3128/path@x/y"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskProxyURL(tt.in); got != tt.want {
			t.Errorf("MaskProxyURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := (Entry{Name: "proxy", Value: "http://tok3n@proxy:3128", URL: true}).Shown(); got != "http://****@proxy:3128" {
		t.Errorf("proxy setting shown as %q", got)
	}
}

func TestMaskURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{`parse "http://bob:pw@h:99999": invalid port ":99999" after host`, `parse "http://bob:****@h:99999": invalid port ":99999" after host`},
		{`proxy http://bob:pw@h:1 and mqtt://a:b@c refused`, `proxy http://bob:****@h:1 and mqtt://a:****@c refused`},
		{"give --proxy http://[user:pass@]host:port", "give --proxy http://[user:pass@]host:port"},
		{"mail bob:pw@example.com", "mail bob:pw@example.com"}, // no scheme: not a URL in free text
		{"no url here", "no url here"},
	}
	for _, tt := range tests {
		if got := MaskURLs(tt.in); got != tt.want {
			t.Errorf("MaskURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestParseEndpointErrorsMask: an endpoint that does not parse is named in
// the error with its password masked, and net/url's own message, which
// quotes the URL up to where it failed, is not passed on.
func TestParseEndpointErrorsMask(t *testing.T) {
	for _, text := range []string{
		"mqtt://alice:S3cret@host:99999",
		"mqtt://alice:S3#cret@host",
		"mqtt://alice:S3 cret@host",
		"ftp://alice:S3cret@host",
		"mqtt://alice:S3cret@",
		"mqtt://alice:S3%zzcret@host",
	} {
		_, err := ParseEndpoint(text)
		if err == nil {
			t.Errorf("%q: no error", text)
			continue
		}
		if strings.Contains(err.Error(), "S3") || !strings.Contains(err.Error(), "alice:****@") {
			t.Errorf("%q: %v", text, err)
		}
	}
	ep, err := ParseEndpoint("mqtts://al%40ice:p%40ss@host:8884/x")
	if err != nil || ep.Username != "al@ice" || ep.Password != "p@ss" || !ep.HasUser || !ep.HasPassword || ep.Host != "host" || ep.Port != 8884 {
		t.Errorf("user info = %+v, %v", ep, err)
	}
}
