package web

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
)

// redirectPolicy decides where a person may land after signing in: a path
// on this site, or a URL whose exact scheme, host and port are on the
// allow-list. Anything else is an open redirect waiting to happen.
type redirectPolicy struct {
	origins []string // "https://app.example.com" (scheme://host[:port], lowercased)
	// protected, when set, also allows URLs on the hosts that have an
	// access rule (forward-auth's rd).
	protected func(*url.URL) bool
}

func newRedirectPolicy(allow []string) (redirectPolicy, error) {
	var p redirectPolicy
	for _, a := range allow {
		o, err := origin(a)
		if err != nil {
			return p, fmt.Errorf("redirect allow-list entry %q: %w", a, err)
		}
		p.origins = append(p.origins, o)
	}
	return p, nil
}

// origin returns scheme://host[:port] of an absolute http(s) URL.
func origin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("want an http(s) URL with a host and no user info")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// Check returns target if it is allowed; "" is allowed and means "the default".
func (p redirectPolicy) Check(target string) (string, error) {
	if target == "" {
		return "", nil
	}
	if isLocalPath(target) {
		return target, nil
	}
	if o, err := origin(target); err == nil {
		for _, allowed := range p.origins {
			if o == allowed {
				return target, nil
			}
		}
		if u, err := url.Parse(target); err == nil && p.protected != nil && len(target) <= 2000 && p.protected(u) {
			return target, nil
		}
	}
	return "", auth.Errorf(auth.CodeInvalidRedirect, "That redirect target is not allowed.").
		WithDetail("fields", map[string]string{"redirectTo": "is not an allowed redirect target"})
}

// isLocalPath accepts a path on this site: one leading '/', not followed by
// '/' or '\' (which browsers read as another host), no control characters,
// and no scheme or host once parsed.
func isLocalPath(s string) bool {
	if len(s) > 2000 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
