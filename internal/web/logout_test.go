package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/web"
)

// TestSignOutFromAnApp: an app's own sign-out button posts to /logout from
// the app's origin. Refused until that origin is in CORS_ALLOWED_ORIGINS
// (in development the refusal says so); then the person lands back in
// the app through post_logout_redirect, or on /login told they are out.
func TestSignOutFromAnApp(t *testing.T) {
	const app = "https://app.example.com"
	signedIn := func(t *testing.T, h *harness) *http.Client {
		t.Helper()
		c := newClient()
		_, m := h.send(c, "ada@example.com")
		mustPost(t, h, c, "/api/auth/passwordless/verify", url.Values{"link_token": {linkToken(t, m.Link)}}, http.StatusSeeOther)
		return c
	}
	logout := func(h *harness, c *http.Client, form url.Values) response {
		return h.do(c, http.MethodPost, "/logout", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
			"Origin", app, "Sec-Fetch-Site", "cross-site", "Accept", "text/html")
	}

	for _, production := range []bool{false, true} {
		h := newHarness(t, options{web: func(c *web.Config) { c.Production = production }})
		r := logout(h, signedIn(t, h), nil)
		hint := strings.Contains(string(r.body), "add "+app+" to CORS_ALLOWED_ORIGINS")
		if r.StatusCode != http.StatusForbidden || hint == production {
			t.Errorf("production=%v: sign-out from an origin not allowed: %d, hint shown %v\n%s", production, r.StatusCode, hint, r.body)
		}
	}

	h := newHarness(t, options{web: func(c *web.Config) {
		c.CORSOrigins = []string{app}
		c.RedirectAllowlist = []string{app}
	}})
	c := signedIn(t, h)
	r := logout(h, c, url.Values{"post_logout_redirect": {app + "/goodbye"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != app+"/goodbye" {
		t.Fatalf("sign-out with post_logout_redirect: %d to %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if s := h.get(c, "/api/me").StatusCode; s != http.StatusUnauthorized {
		t.Fatalf("/api/me after signing out: %d", s)
	}

	// A target off the allow-list is not followed (no open redirect).
	c = signedIn(t, h)
	r = logout(h, c, url.Values{"post_logout_redirect": {"https://evil.example.net/"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?signed_out=1" {
		t.Fatalf("sign-out with a target not allowed: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if !strings.Contains(h.logs.String(), "post_logout_redirect is neither") {
		t.Error("the ignored post_logout_redirect is not logged")
	}
	if page := liveStep(h.get(c, "/login?signed_out=1").body); !strings.Contains(page, "You&#39;re signed out.") {
		t.Errorf("/login after signing out:\n%s", page)
	}
}
