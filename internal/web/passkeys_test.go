package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/web"
)

// TestPasskeyRoutes: the passkey API's answers in the contract's shape.
// Ceremonies are handed out with a binding cookie (httpOnly, kept to the
// passkey routes), used once, and refused without it; adding and listing
// passkeys need a session; redirect targets are checked as /login's are.
// The ceremonies themselves run in Chromium (browsertest).
func TestPasskeyRoutes(t *testing.T) {
	h := newHarness(t, options{passkeys: true})
	c := newClient()
	junk := `{"credential":{"id":"eA","rawId":"eA","type":"public-key","response":{}}}`

	wantError(t, h.postJSON(c, "/api/auth/passkey/register/options", nil), http.StatusUnauthorized, auth.CodeUnauthorized)
	wantError(t, h.get(c, "/api/auth/passkeys"), http.StatusUnauthorized, auth.CodeUnauthorized)
	wantError(t, h.postJSON(c, "/api/auth/passkey/login/options", map[string]string{"redirectTo": "https://evil.example/"}), http.StatusBadRequest, auth.CodeInvalidRedirect)
	wantError(t, h.postJSON(c, "/api/auth/passkey/login/options", map[string]string{"redirect": "/"}), http.StatusBadRequest, auth.CodeInvalidRequest)
	wantError(t, h.do(c, http.MethodPost, "/api/auth/passkey/login/options", "text/plain", strings.NewReader("{}")), http.StatusUnsupportedMediaType, auth.CodeUnsupportedMedia)
	wantError(t, h.do(c, http.MethodPost, "/api/auth/passkey/login/verify", "application/json", strings.NewReader(junk)), http.StatusGone, auth.CodeExpired)

	r := h.postJSON(c, "/api/auth/passkey/login/options", map[string]string{"redirectTo": "/after"})
	if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("options: %d %v %s", r.StatusCode, r.Header, r.body)
	}
	pk, _ := r.json(t)["publicKey"].(map[string]any)
	if ch, _ := pk["challenge"].(string); len(ch) < 43 || pk["rpId"] != "localhost" || pk["allowCredentials"] != nil {
		t.Fatalf("options %s: want a 32-byte challenge, rpId localhost, no allowCredentials", r.body)
	}
	cookie := setCookie(r, "latch_passkey")
	if cookie == nil || !cookie.HttpOnly || cookie.Path != "/api/auth/passkey/" || cookie.SameSite != http.SameSiteStrictMode || cookie.MaxAge <= 0 {
		t.Fatalf("binding cookie %+v: want httpOnly, SameSite=Strict, on /api/auth/passkey/ only", cookie)
	}
	if strings.Contains(h.logs.String(), cookie.Value) {
		t.Fatal("the binding secret is in the log")
	}

	// A wrong answer uses the ceremony up: a second try has expired.
	wantError(t, h.do(c, http.MethodPost, "/api/auth/passkey/login/verify", "application/json", strings.NewReader(junk)), http.StatusBadRequest, auth.CodeInvalidRequest)
	wantError(t, h.do(c, http.MethodPost, "/api/auth/passkey/login/verify", "application/json", strings.NewReader(junk)), http.StatusGone, auth.CodeExpired)
	h.postJSON(c, "/api/auth/passkey/login/options", map[string]string{})
	wantError(t, h.postJSON(c, "/api/auth/passkey/login/verify", map[string]string{"credential": "x"}), http.StatusBadRequest, auth.CodeInvalidRequest)
	wantError(t, h.do(c, http.MethodPost, "/api/auth/passkey/login/verify", "application/json", strings.NewReader(`{"credential":{},"name":"x"}`)), http.StatusBadRequest, auth.CodeInvalidRequest)

	// Signed in: options to add one, an empty list, forms that change
	// nothing that is not there.
	h.signIn(c, "ada@example.com", "Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0")
	r = h.postJSON(c, "/api/auth/passkey/register/options", nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("register options: %d %s", r.StatusCode, r.body)
	}
	pk, _ = r.json(t)["publicKey"].(map[string]any)
	sel, _ := pk["authenticatorSelection"].(map[string]any)
	if sel["residentKey"] != "required" || sel["userVerification"] != "preferred" || sel["authenticatorAttachment"] != nil {
		t.Fatalf("register options %s", r.body)
	}
	if r := h.get(c, "/api/auth/passkeys"); r.StatusCode != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"passkeys":[]}` {
		t.Fatalf("list: %d %s", r.StatusCode, r.body)
	}
	r = h.postForm(c, "/account/passkeys/remove", url.Values{"passkey": {"nope"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/#passkeys" {
		t.Fatalf("removing an unknown passkey: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if page := string(h.get(c, "/").body); !strings.Contains(page, `id="passkeys"`) || !strings.Contains(page, "Add a passkey") {
		t.Fatalf("the account page has no passkeys part:\n%s", page)
	}
}

// TestNoPasskeyRoutesWhenOff: without a relying party there is no
// passkey route and nothing about passkeys on the pages.
func TestNoPasskeyRoutesWhenOff(t *testing.T) {
	h := newHarness(t, options{})
	wantError(t, h.postJSON(newClient(), "/api/auth/passkey/login/options", map[string]string{}), http.StatusNotFound, auth.CodeNotFound)
	if page := string(h.get(newClient(), "/login").body); strings.Contains(page, "passkey") || strings.Contains(page, "webauthn") {
		t.Fatalf("/login speaks of passkeys while they are off:\n%s", page)
	}
}

func setCookie(r response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestPasskeyAnswersCountAsFailedChecks: failed passkey answers spend the
// per-IP budget of failed secret checks (RATE_LIMIT_AUTH_IP_MAX), as
// wrong codes do.
func TestPasskeyAnswersCountAsFailedChecks(t *testing.T) {
	h := newHarness(t, options{passkeys: true, web: func(c *web.Config) { c.AuthIPMax = 3 }})
	c := newClient()
	junk := `{"credential":{"id":"eA","rawId":"eA","type":"public-key","response":{}}}`
	for range 3 {
		wantError(t, h.do(c, http.MethodPost, "/api/auth/passkey/login/verify", "application/json", strings.NewReader(junk)), http.StatusGone, auth.CodeExpired)
	}
	r := h.do(c, http.MethodPost, "/api/auth/passkey/login/verify", "application/json", strings.NewReader(junk))
	wantError(t, r, http.StatusTooManyRequests, auth.CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

// TestPasskeyOptionsHaveABudget: sign-in options need no session and
// each stores a ceremony, so one address gets ten times RATE_LIMIT_MAX
// of them a window, successes included, and then 429.
func TestPasskeyOptionsHaveABudget(t *testing.T) {
	h := newHarness(t, options{passkeys: true, web: func(c *web.Config) { c.RateLimitMax = 2 }})
	for i := range 20 {
		if r := h.postJSON(newClient(), "/api/auth/passkey/login/options", map[string]string{}); r.StatusCode != http.StatusOK {
			t.Fatalf("options %d of 20: %d %s", i+1, r.StatusCode, r.body)
		}
	}
	wantError(t, h.postJSON(newClient(), "/api/auth/passkey/login/options", map[string]string{}), http.StatusTooManyRequests, auth.CodeRateLimited)
}
