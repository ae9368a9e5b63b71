package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/web"
)

func cookieValue(c *http.Client, rawURL, name string) string {
	u, _ := url.Parse(rawURL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func TestSignInByCode(t *testing.T) {
	h := newHarness(t, options{})
	c := h.client
	r := h.postJSON(c, "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com", "state": "s-42"})
	if r.StatusCode != 200 {
		t.Fatalf("send: %d %s", r.StatusCode, r.body)
	}
	body := r.json(t)
	id, _ := body["authRequestId"].(string)
	if id == "" || body["passwordlessType"] != "LINK_OTP" || body["expiresIn"] != float64(300) ||
		body["expiresAt"] != float64(h.clock.Now().Add(5*time.Minute).Unix()) {
		t.Fatalf("send body %s", r.body)
	}
	if !strings.HasPrefix(cookieValue(c, h.srv.URL, "latch_auth_request"), id+".") {
		t.Fatal("latch_auth_request cookie not set")
	}
	ck := r.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("auth request cookie %+v is not httpOnly SameSite=Lax", ck)
	}

	m := h.mail.Last(t, "ada@example.com")
	r = h.postJSON(c, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code})
	if r.StatusCode != 200 {
		t.Fatalf("verify: %d %s", r.StatusCode, r.body)
	}
	v := r.json(t)
	user := v["user"].(map[string]any)
	if user["email"] != "ada@example.com" || !strings.HasPrefix(user["id"].(string), "usr_") || v["state"] != "s-42" {
		t.Fatalf("verify body %s", r.body)
	}
	var session *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "latch_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie %+v; want httpOnly, Lax, not Secure on http", session)
	}

	r = h.get(c, "/api/me")
	if r.StatusCode != 200 {
		t.Fatalf("/api/me: %d %s", r.StatusCode, r.body)
	}
	me := r.json(t)
	if me["user"].(map[string]any)["id"] != user["id"] || me["session"].(map[string]any)["expiresAt"] == nil {
		t.Fatalf("/api/me body %s", r.body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("/api/me Cache-Control %q", r.Header.Get("Cache-Control"))
	}

	r = h.do(c, http.MethodPost, "/api/auth/logout", "", nil)
	if r.StatusCode != 200 || string(bytes.TrimSpace(r.body)) != `{"success":true}` {
		t.Fatalf("logout: %d %s", r.StatusCode, r.body)
	}
	wantError(t, h.get(c, "/api/me"), 401, auth.CodeUnauthorized)
	wantError(t, h.do(c, http.MethodPost, "/api/auth/logout", "", nil), 401, auth.CodeUnauthorized)
}

func TestSignInByLink(t *testing.T) {
	h := newHarness(t, options{})
	_, m := h.send(h.client, "ada@example.com")

	// Another browser (a mail scanner, say) opens the link: nothing is consumed.
	scanner := newClient()
	for range 2 {
		r := h.get(scanner, linkPath(t, m.Link))
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `action="/api/auth/passwordless/verify"`) || autoSubmits(r.body) {
			t.Fatalf("link page in another browser: %d\n%s", r.StatusCode, r.body)
		}
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("link page headers: %v", r.Header)
		}
	}
	if r := h.do(scanner, http.MethodHead, linkPath(t, m.Link), "", nil); r.StatusCode != 200 {
		t.Fatalf("HEAD link: %d", r.StatusCode)
	}
	// The browser that asked gets a page that completes by itself.
	r := h.get(h.client, linkPath(t, m.Link))
	if r.StatusCode != 200 || !autoSubmits(r.body) {
		t.Fatalf("link page in the asking browser: %d\n%s", r.StatusCode, r.body)
	}

	u, _ := url.Parse(m.Link)
	form := url.Values{"link_token": {u.Query().Get("link_token")}, "auth_request_id": {u.Query().Get("auth_request_id")}}
	r = h.postForm(h.client, "/api/auth/passwordless/verify", form)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("link POST: %d %s, Location %q", r.StatusCode, r.body, r.Header.Get("Location"))
	}
	if h.get(h.client, "/api/me").StatusCode != 200 {
		t.Fatal("not signed in after the link")
	}
	// Replaying the link fails, in either encoding.
	if r := h.postForm(scanner, "/api/auth/passwordless/verify", form); r.StatusCode != http.StatusGone {
		t.Fatalf("replayed link (form): %d", r.StatusCode)
	}
	wantError(t, h.postJSON(scanner, "/api/auth/passwordless/verify", map[string]string{"linkToken": form.Get("link_token")}), 410, auth.CodeExpired)
}

// autoSubmits reports whether a link page completes sign-in by itself.
func autoSubmits(page []byte) bool {
	return regexp.MustCompile(`<form[^>]*\sdata-autosubmit[\s>]`).Match(page)
}

func TestSignInByLinkJSON(t *testing.T) {
	h := newHarness(t, options{})
	_, m := h.send(h.client, "ada@example.com")
	u, _ := url.Parse(m.Link)
	other := newClient()
	r := h.postJSON(other, "/api/auth/passwordless/verify", map[string]string{"link_token": u.Query().Get("link_token")})
	if r.StatusCode != 200 || r.json(t)["user"].(map[string]any)["email"] != "ada@example.com" {
		t.Fatalf("JSON link verify: %d %s", r.StatusCode, r.body)
	}
}

func TestErrorsThroughHTTP(t *testing.T) {
	h := newHarness(t, options{})
	c := h.client
	send := "/api/auth/passwordless/email/send"
	cases := []struct {
		name   string
		resp   func() response
		status int
		code   auth.Code
	}{
		{"malformed JSON", func() response { return h.do(c, "POST", send, "application/json", strings.NewReader(`{"email":`)) }, 400, auth.CodeInvalidRequest},
		{"not an object", func() response { return h.do(c, "POST", send, "application/json", strings.NewReader(`["a"]`)) }, 400, auth.CodeInvalidRequest},
		{"empty body", func() response { return h.do(c, "POST", send, "application/json", nil) }, 400, auth.CodeInvalidRequest},
		{"two objects", func() response {
			return h.do(c, "POST", send, "application/json", strings.NewReader(`{"email":"a@b.co"}{}`))
		}, 400, auth.CodeInvalidRequest},
		{"unknown field", func() response { return h.postJSON(c, send, map[string]string{"email": "a@b.co", "admin": "1"}) }, 400, auth.CodeInvalidRequest},
		{"wrong field type", func() response { return h.postJSON(c, send, map[string]any{"email": 42}) }, 400, auth.CodeInvalidRequest},
		{"wrong content type", func() response { return h.do(c, "POST", send, "text/plain", strings.NewReader(`{"email":"a@b.co"}`)) }, 415, auth.CodeUnsupportedMedia},
		{"no content type", func() response { return h.do(c, "POST", send, "", strings.NewReader(`{"email":"a@b.co"}`)) }, 415, auth.CodeUnsupportedMedia},
		{"oversized body", func() response {
			return h.do(c, "POST", send, "application/json", strings.NewReader(`{"email":"`+strings.Repeat("a", 20000)+`"}`))
		}, 413, auth.CodePayloadTooLarge},
		{"missing email", func() response { return h.postJSON(c, send, map[string]string{}) }, 400, auth.CodeInvalidEmail},
		{"invalid email", func() response { return h.postJSON(c, send, map[string]string{"email": "not-an-email"}) }, 400, auth.CodeInvalidEmail},
		{"header injection", func() response {
			return h.postJSON(c, send, map[string]string{"email": "a@b.co\r\nBcc: eve@evil.test"})
		}, 400, auth.CodeInvalidEmail},
		{"open redirect", func() response {
			return h.postJSON(c, send, map[string]string{"email": "a@b.co", "redirectTo": "https://evil.test/"})
		}, 400, auth.CodeInvalidRedirect},
		{"protocol-relative redirect", func() response {
			return h.postJSON(c, send, map[string]string{"email": "a@b.co", "redirectTo": "//evil.test/"})
		}, 400, auth.CodeInvalidRedirect},
		{"unknown auth request", func() response {
			return h.postJSON(c, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "code": "123456"})
		}, 410, auth.CodeExpired},
		{"missing auth request id", func() response {
			return h.postJSON(c, "/api/auth/passwordless/email/verify/code", map[string]string{"code": "123456"})
		}, 400, auth.CodeInvalidRequest},
		{"unknown route", func() response { return h.get(c, "/api/nope") }, 404, auth.CodeNotFound},
		{"wrong method", func() response { return h.get(c, send) }, 405, auth.CodeMethodNotAllowed},
		{"me without session", func() response { return h.get(c, "/api/me") }, 401, auth.CodeUnauthorized},
		{"garbage session", func() response {
			return h.do(c, "GET", "/api/me", "", nil, "Cookie", "latch_session=garbage")
		}, 401, auth.CodeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.resp(), tc.status, tc.code)
		})
	}
	if n := h.mail.Count(); n != 0 {
		t.Fatalf("bad requests sent %d mails", n)
	}
	r := h.get(c, "/api/auth/passwordless/email/send")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "POST") {
		t.Fatalf("405 without Allow: POST (got %q)", allow)
	}
	r = h.get(c, "/nope")
	if r.StatusCode != 404 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("unknown page: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	v := wantError(t, h.postJSON(c, send, map[string]string{"email": "a@b.co", "admin": "1"}), 400, auth.CodeInvalidRequest)
	if v["details"].(map[string]any)["fields"].(map[string]any)["admin"] == nil {
		t.Fatalf("unknown field not named in details.fields: %v", v)
	}
}

func TestWrongCodeLockoutAndReplay(t *testing.T) {
	h := newHarness(t, options{})
	id, m := h.send(h.client, "ada@example.com")
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	verify := "/api/auth/passwordless/email/verify/code"
	for left := 4; left >= 0; left-- {
		v := wantError(t, h.postJSON(h.client, verify, map[string]string{"authRequestId": id, "code": wrong}), 400, auth.CodeInvalidCode)
		if got := v["details"].(map[string]any)["attemptsRemaining"]; got != float64(left) {
			t.Fatalf("attemptsRemaining %v, want %d", got, left)
		}
	}
	wantError(t, h.postJSON(h.client, verify, map[string]string{"authRequestId": id, "code": m.Code}), 429, auth.CodeTooManyAttempts)

	id, m = h.send(newClient(), "grace@example.com")
	if r := h.postJSON(h.client, verify, map[string]string{"authRequestId": id, "code": m.Code}); r.StatusCode != 200 {
		t.Fatalf("verify: %d %s", r.StatusCode, r.body)
	}
	wantError(t, h.postJSON(h.client, verify, map[string]string{"authRequestId": id, "code": m.Code}), 410, auth.CodeExpired)
}

func TestExpiredCode(t *testing.T) {
	h := newHarness(t, options{})
	id, m := h.send(h.client, "ada@example.com")
	h.clock.Advance(5*time.Minute + time.Second)
	wantError(t, h.postJSON(h.client, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code}), 410, auth.CodeExpired)
	r := h.get(newClient(), linkPath(t, m.Link))
	if r.StatusCode != http.StatusGone || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired link page: %d\n%s", r.StatusCode, r.body)
	}
}

func TestConcurrentVerifyOneWinner(t *testing.T) {
	h := newHarness(t, options{})
	id, m := h.send(h.client, "ada@example.com")
	const n = 50
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r := h.postJSON(newClient(), "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code})
			mu.Lock()
			statuses[r.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if statuses[200] != 1 || statuses[410] != n-1 {
		t.Fatalf("%d concurrent verifies of one code: %v; want exactly one 200 and %d 410", n, statuses, n-1)
	}
}

func TestResendAndLimits(t *testing.T) {
	h := newHarness(t, options{})
	id, first := h.send(h.client, "ada@example.com")
	resend := "/api/auth/passwordless/email/resend"
	r := h.postJSON(h.client, resend, map[string]string{"authRequestId": id})
	v := wantError(t, r, 429, auth.CodeRateLimited)
	if r.Header.Get("Retry-After") != "30" || v["details"].(map[string]any)["retryAfter"] != float64(30) {
		t.Fatalf("cooldown: Retry-After %q, body %s", r.Header.Get("Retry-After"), r.body)
	}
	h.clock.Advance(30 * time.Second)
	r = h.postJSON(h.client, resend, map[string]string{"authRequestId": id})
	if r.StatusCode != 200 || r.json(t)["authRequestId"] != id {
		t.Fatalf("resend: %d %s", r.StatusCode, r.body)
	}
	second := h.mail.Last(t, "ada@example.com")
	if second.Code == first.Code && second.Link == first.Link {
		t.Fatal("resend did not make a fresh code and link")
	}
	verify := "/api/auth/passwordless/email/verify/code"
	if first.Code != second.Code {
		wantError(t, h.postJSON(h.client, verify, map[string]string{"authRequestId": id, "code": first.Code}), 400, auth.CodeInvalidCode)
	}
	if r := h.postJSON(h.client, verify, map[string]string{"authRequestId": id, "code": second.Code}); r.StatusCode != 200 {
		t.Fatalf("new code: %d %s", r.StatusCode, r.body)
	}
}

func TestPerEmailSendLimit(t *testing.T) {
	h := newHarness(t, options{})
	h.send(h.client, "ada@example.com")
	h.send(h.client, "ada@example.com")
	r := h.postJSON(h.client, "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	wantError(t, r, 429, auth.CodeRateLimited)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestPerIPRateLimit(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.RateLimitMax = 3 }})
	for i := 1; i <= 3; i++ {
		r := h.get(h.client, "/api/me")
		if r.Header.Get("RateLimit-Limit") != "3" || r.Header.Get("RateLimit-Remaining") != fmt.Sprint(3-i) || r.Header.Get("RateLimit-Reset") == "" {
			t.Fatalf("request %d rate-limit headers: %v", i, r.Header)
		}
	}
	r := h.get(h.client, "/api/me")
	v := wantError(t, r, 429, auth.CodeRateLimited)
	if r.Header.Get("Retry-After") == "" || v["details"].(map[string]any)["retryAfter"] == nil {
		t.Fatalf("429 without Retry-After: %v %s", r.Header, r.body)
	}
	if r := h.get(h.client, "/api/health"); r.StatusCode != 200 {
		t.Fatalf("health probe was limited: %d", r.StatusCode)
	}
	// A spoofed X-Forwarded-For from an untrusted peer changes nothing.
	r = h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", "203.0.113.9")
	wantError(t, r, 429, auth.CodeRateLimited)
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, options{})
	r := h.do(h.client, "GET", "/api/health", "", nil, "X-Request-Id", "abc-123.X_y")
	if r.Header.Get("X-Request-Id") != "abc-123.X_y" {
		t.Fatalf("well-formed id not kept: %q", r.Header.Get("X-Request-Id"))
	}
	for _, bad := range []string{"has space", strings.Repeat("a", 65), "new\nline"} {
		r := h.do(h.client, "GET", "/api/health", "", nil, "X-Request-Id", strings.ReplaceAll(bad, "\n", ""))
		if got := r.Header.Get("X-Request-Id"); got == "" || got == bad {
			t.Fatalf("bad id %q: got %q, want a fresh one", bad, got)
		}
	}
	if r := h.get(h.client, "/api/health"); len(r.Header.Get("X-Request-Id")) < 16 {
		t.Fatalf("generated id %q", r.Header.Get("X-Request-Id"))
	}
}

func TestHealthAndReady(t *testing.T) {
	h := newHarness(t, options{})
	v := h.get(h.client, "/api/health").json(t)
	if v["status"] != "ok" {
		t.Fatalf("health %v", v)
	}
	if _, err := time.Parse(time.RFC3339, v["time"].(string)); err != nil {
		t.Fatalf("health time: %v", err)
	}
	r := h.get(h.client, "/api/health/ready")
	if r.StatusCode != 200 || r.json(t)["checks"].(map[string]any)["store"] != "ok" {
		t.Fatalf("ready: %d %s", r.StatusCode, r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, options{})
	for _, path := range []string{"/api/health", "/login"} {
		r := h.get(h.client, path)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"X-Frame-Options":        "DENY",
		} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s %s = %q, want %q", path, k, got, want)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s CSP %q", path, csp)
		}
	}
}
