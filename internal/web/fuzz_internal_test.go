package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirectCheck checks that an accepted redirect target, resolved the
// way a browser resolves a Location header, never leaves this site or
// the allow-list.
func FuzzRedirectCheck(f *testing.F) {
	for _, s := range []string{"/", "/a?b#c", "//evil.test", "/\\evil.test", "https://app.example.com/x", "https://app.example.com:1/", "javascript:alert(1)", "/%2F%2Fevil.test", "/\t/evil.test", "https:evil.test", "https://app.example.com@evil.test/"} {
		f.Add(s)
	}
	p, err := newRedirectPolicy([]string{"https://app.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	base, _ := url.Parse("https://latch.example.org/login")
	f.Fuzz(func(t *testing.T, target string) {
		got, err := p.Check(target)
		if err != nil || got == "" {
			return
		}
		// Browsers drop tabs and newlines and treat '\' like '/'.
		cleaned := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		u, err := base.Parse(cleaned)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse as a URL: %v", target, err)
		}
		host := strings.ToLower(u.Host)
		if host != "latch.example.org" && !(u.Scheme == "https" && host == "app.example.com") {
			t.Fatalf("accepted %q, which a browser sends to %s://%s", target, u.Scheme, u.Host)
		}
	})
}

func TestLimitKeyGroupsIPv6By64(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:198.51.100.1":  "::ffff:198.51.100.1",
		"not an address":       "not an address",
	} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
}
