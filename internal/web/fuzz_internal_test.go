package web

import (
	"context"
	"net/http/httptest"
	"net/url"
	"slices"
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

func TestPerIPCountersGroupIPv6(t *testing.T) {
	for in, want := range map[string][]counter{
		"203.0.113.7":          {{"ip:203.0.113.7", 10}},
		"2001:db8:1:2:3:4:5:6": {{"ip:2001:db8:1:2::/64", 10}, {"ip_48:2001:db8:1::/48", 40}},
		"2001:db8:1:2:ffff::1": {{"ip:2001:db8:1:2::/64", 10}, {"ip_48:2001:db8:1::/48", 40}},
		"2001:db8:1:3::1":      {{"ip:2001:db8:1:3::/64", 10}, {"ip_48:2001:db8:1::/48", 40}},
		"::ffff:198.51.100.1":  {{"ip:::ffff:198.51.100.1", 10}},
		"not an address":       {{"ip:not an address", 10}},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, &reqState{clientIP: in}))
		if got := (rateLimit{name: "ip", max: 10}).counters(r); !slices.Equal(got, want) {
			t.Errorf("counters(%q) = %v, want %v", in, got, want)
		}
	}
}
