package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/mail/outbox"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/web"
)

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.CORSOrigins = []string{"https://app.example.com"} }})
	send := "/api/auth/passwordless/email/send"
	body := strings.NewReader
	cases := []struct {
		name   string
		header []string
		status int
	}{
		{"cross-site browser", []string{"Origin", "https://evil.test", "Sec-Fetch-Site", "cross-site"}, 403},
		{"cross-site by Origin only", []string{"Origin", "https://evil.test"}, 403},
		{"same-origin browser", []string{"Sec-Fetch-Site", "same-origin"}, 200},
		{"allow-listed origin", []string{"Origin", "https://app.example.com", "Sec-Fetch-Site", "cross-site"}, 200},
		{"non-browser client", nil, 200},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := "user" + string(rune('a'+i)) + "@example.com"
			r := h.do(h.client, "POST", send, "application/json", body(`{"email":"`+addr+`"}`), tc.header...)
			if tc.status == 403 {
				wantError(t, r, 403, auth.CodeCrossOrigin)
				if len(h.mail.To(addr)) > 0 {
					t.Fatal("a refused request sent mail")
				}
				return
			}
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tc.status, r.body)
			}
		})
	}
	// Safe methods pass whatever their origin.
	if r := h.do(h.client, "GET", "/api/health", "", nil, "Origin", "https://evil.test", "Sec-Fetch-Site", "cross-site"); r.StatusCode != 200 {
		t.Fatalf("cross-site GET: %d", r.StatusCode)
	}
}

func TestCORSAllowsOnlyListedOrigins(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.CORSOrigins = []string{"https://app.example.com"} }})
	preflight := func(origin string) response {
		return h.do(h.client, "OPTIONS", "/api/auth/passwordless/email/send", "", nil,
			"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}
	r := preflight("https://app.example.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed preflight headers: %v", r.Header)
	}
	if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight without Vary: Origin: %v", r.Header)
	}
	for _, origin := range []string{"https://evil.test", "https://app.example.com.evil.test", "http://app.example.com", "null"} {
		if got := preflight(origin).Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %s allowed as %q", origin, got)
		}
	}
	r = h.do(h.client, "GET", "/api/health", "", nil, "Origin", "https://app.example.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.Header.Get("Access-Control-Allow-Origin") == "*" {
		t.Fatalf("simple request ACAO %q", r.Header.Get("Access-Control-Allow-Origin"))
	}
	r = h.do(h.client, "OPTIONS", "/api/auth/passwordless/email/send", "", nil,
		"Origin", "https://app.example.com", "Access-Control-Request-Method", "DELETE")
	if r.Header.Get("Access-Control-Allow-Origin") != "" && strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Fatal("preflight allowed DELETE")
	}
}

func TestCookiesInProduction(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.Production = true }})
	r := h.postJSON(h.client, "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	for _, ck := range r.Cookies() {
		if !ck.Secure || !ck.HttpOnly || ck.Domain != "" {
			t.Fatalf("production cookie %+v: want Secure, HttpOnly, no Domain", ck)
		}
	}
}

func TestCookieDomainOnlyWhenSet(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.CookieDomain = "example.com" }})
	r := h.postJSON(h.client, "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	if ck := r.Cookies()[0]; ck.Domain != "example.com" {
		t.Fatalf("cookie domain %q, want example.com", ck.Domain)
	}
}

func TestPlantedSessionIsNotAdopted(t *testing.T) {
	h := newHarness(t, options{})
	planted := strings.Repeat("A", 43)
	base, _ := url.Parse(h.srv.URL)
	h.client.Jar.SetCookies(base, []*http.Cookie{{Name: "latch_session", Value: planted}})
	id, m := h.send(h.client, "ada@example.com")
	h.postJSON(h.client, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code})
	got := cookieValue(h.client, h.srv.URL, "latch_session")
	if got == planted || len(got) != 43 {
		t.Fatalf("session cookie after login %q: the planted one was kept", got)
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	h := newHarness(t, options{})
	id, m := h.send(h.client, "ada@example.com")
	h.postJSON(h.client, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code})
	token := cookieValue(h.client, h.srv.URL, "latch_session")
	h.do(h.client, "POST", "/api/auth/logout", "", nil)
	// A copy of the cookie kept by an attacker no longer works.
	r := h.do(newClient(), "GET", "/api/me", "", nil, "Cookie", "latch_session="+token)
	wantError(t, r, 401, auth.CodeUnauthorized)
}

func TestLogoutEverywhere(t *testing.T) {
	h := newHarness(t, options{})
	laptop, phone := newClient(), newClient()
	for _, c := range []*http.Client{laptop, phone} {
		id, _ := h.send(c, "ada@example.com")
		h.clock.Advance(31e9) // past the per-address send window's tight limit
		m := h.mail.Last(t, "ada@example.com")
		if r := h.postJSON(c, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code}); r.StatusCode != 200 {
			t.Fatalf("sign-in: %d %s", r.StatusCode, r.body)
		}
	}
	if r := h.do(laptop, "POST", "/api/auth/logout?scope=global", "", nil); r.StatusCode != 200 {
		t.Fatalf("logout everywhere: %d %s", r.StatusCode, r.body)
	}
	wantError(t, h.get(phone, "/api/me"), 401, auth.CodeUnauthorized)
}

func TestTrustedProxies(t *testing.T) {
	limitOne := func(trusted []netip.Prefix) options {
		return options{web: func(c *web.Config) { c.RateLimitMax = 1; c.TrustedProxies = trusted }}
	}
	// Behind a trusted proxy each forwarded client is counted on its own.
	h := newHarness(t, limitOne([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}))
	for _, xff := range []string{"198.51.100.1", "203.0.113.5, 198.51.100.2", "198.51.100.3, 127.0.0.1"} {
		if r := h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", xff); r.StatusCode == 429 {
			t.Fatalf("client %q was limited by another's count", xff)
		}
	}
	// The left-most hop is the client's to write: only the right-most untrusted one counts.
	wantError(t, h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", "192.0.2.99, 198.51.100.1"), 429, auth.CodeRateLimited)

	// From an untrusted peer the header changes nothing.
	h = newHarness(t, limitOne(nil))
	h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", "198.51.100.1")
	wantError(t, h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", "198.51.100.2"), 429, auth.CodeRateLimited)
}

func TestSendDoesNotRevealWhoMaySignIn(t *testing.T) {
	h := newHarness(t, options{auth: func(c *auth.Config) { c.AllowedDomains = []string{"example.com"} }})
	in := h.postJSON(newClient(), "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"})
	out := h.postJSON(newClient(), "/api/auth/passwordless/email/send", map[string]string{"email": "eve@elsewhere.test"})
	if in.StatusCode != out.StatusCode || len(in.Cookies()) != len(out.Cookies()) {
		t.Fatalf("answers differ: %d vs %d", in.StatusCode, out.StatusCode)
	}
	a, b := in.json(t), out.json(t)
	for k := range a {
		if _, ok := b[k]; !ok {
			t.Fatalf("key %s only in the allowed answer", k)
		}
	}
	if len(a) != len(b) || a["expiresIn"] != b["expiresIn"] || a["passwordlessType"] != b["passwordlessType"] {
		t.Fatalf("answers differ: %s vs %s", in.body, out.body)
	}
	for _, m := range h.mail.To("eve@elsewhere.test") {
		if !m.Suppressed || m.Code != "" || m.Link != "" {
			t.Fatal("an address outside ALLOWED_EMAIL_DOMAINS got a code")
		}
	}
}

func TestRedirects(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.RedirectAllowlist = []string{"https://app.example.com"} }})
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"/dashboard", true},
		{"/a/b?c=d#e", true},
		{"https://app.example.com/welcome", true},
		{"https://APP.example.com/", true},
		{"//evil.test/", false},
		{"/\\evil.test", false},
		{"\\\\evil.test", false},
		{"https://evil.test/", false},
		{"https://app.example.com:8443/", false},
		{"http://app.example.com/", false},
		{"https://app.example.com.evil.test/", false},
		{"javascript:alert(1)", false},
		{"/\t/evil.test", false},
		{"https://user@app.example.com/", false},
		{"dashboard", false},
	} {
		r := h.postJSON(newClient(), "/api/auth/passwordless/email/send", map[string]string{"email": "r@example.com", "redirectTo": tc.target})
		if tc.ok && r.StatusCode == 400 {
			t.Errorf("redirect %q refused: %s", tc.target, r.body)
		}
		if !tc.ok {
			if r.StatusCode != 400 || r.json(t)["code"] != string(auth.CodeInvalidRedirect) {
				t.Errorf("redirect %q: %d %s; want 400 invalid_redirect", tc.target, r.StatusCode, r.body)
			}
		}
		h.clock.Advance(61e9) // keep under the per-address send limit
	}
}

func TestRedirectAfterLinkLogin(t *testing.T) {
	h := newHarness(t, options{})
	r := h.postJSON(h.client, "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com", "redirectTo": "/welcome"})
	if r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	m := h.mail.Last(t, "ada@example.com")
	u, _ := url.Parse(m.Link)
	r = h.postForm(newClient(), "/api/auth/passwordless/verify", u.Query())
	if r.StatusCode != 303 || r.Header.Get("Location") != "/welcome" {
		t.Fatalf("redirect after link: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestSameBrowserLinks(t *testing.T) {
	h := newHarness(t, options{auth: func(c *auth.Config) { c.SameBrowser = true }})
	_, m := h.send(h.client, "ada@example.com")
	other := newClient()
	page := h.get(other, linkPath(t, m.Link))
	if !strings.Contains(string(page.body), "type the code") && !strings.Contains(string(page.body), "Type the code") {
		t.Fatalf("the page in another browser does not say to type the code:\n%s", page.body)
	}
	u, _ := url.Parse(m.Link)
	wantError(t, h.postJSON(other, "/api/auth/passwordless/verify", map[string]string{"linkToken": u.Query().Get("link_token")}), 403, auth.CodeDifferentBrowser)
	r := h.postForm(h.client, "/api/auth/passwordless/verify", u.Query())
	if r.StatusCode != 303 {
		t.Fatalf("the asking browser: %d %s", r.StatusCode, r.body)
	}
}

func TestHSTSOnlyOverHTTPS(t *testing.T) {
	h := newHarness(t, options{})
	if h.get(h.client, "/api/health").Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS over http")
	}
	h = newHarness(t, options{web: func(c *web.Config) { c.BaseURL = &url.URL{Scheme: "https", Host: "login.example.com"} }})
	if !strings.Contains(h.get(h.client, "/api/health").Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatal("no HSTS with an https BASE_URL")
	}
}

func TestPagesUseNoncesAndNoInlineScripts(t *testing.T) {
	h := newHarness(t, options{})
	r := h.get(h.client, "/login")
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self' 'nonce-") || strings.Contains(csp, "unsafe") {
		t.Fatalf("login CSP %q", csp)
	}
	body := string(r.body)
	if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
		t.Fatal("the login page has an inline script without a nonce")
	}
	if h.get(h.client, "/login").Header.Get("Content-Security-Policy") == csp {
		t.Fatal("two pages got the same nonce")
	}
}

// TestPerIPLimitCountsFailedChecks: RATE_LIMIT_AUTH_IP_MAX counts the
// code and link checks that fail, on the JSON API and the login form
// alike; sends are left to the engine's budgets.
func TestPerIPLimitCountsFailedChecks(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.AuthIPMax = 3 }})
	for i := range 3 {
		r := h.postJSON(h.client, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "code": "12345" + string(rune('0'+i))})
		if r.StatusCode == 429 {
			t.Fatalf("request %d limited", i+1)
		}
	}
	r := h.postJSON(h.client, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "code": "123459"})
	wantError(t, r, 429, auth.CodeRateLimited)
	if r.Header.Get("RateLimit-Limit") != "3" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("headers %v", r.Header)
	}
	r = h.postForm(h.client, "/login/code", url.Values{"auth_request_id": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "code": {"123456"}})
	if r.StatusCode != 429 {
		t.Fatalf("the login form is not under the same limit: %d", r.StatusCode)
	}
	if r := h.postJSON(h.client, "/api/auth/passwordless/email/send", map[string]string{"email": "ada@example.com"}); r.StatusCode != 200 {
		t.Fatalf("a send was refused by the limit of failed checks: %d", r.StatusCode)
	}
	if r := h.get(h.client, "/api/me"); r.StatusCode != 401 {
		t.Fatalf("/api/me (not an auth route) was limited: %d", r.StatusCode)
	}
}

// TestCrowdBehindOneAddress: at the default limits, 300 people behind one
// address each send, verify (every tenth after one wrong code) and call
// /api/me 5 times, and none is refused; from that same address, mail to
// addresses that never sign in runs out, and wrong codes across addresses
// are capped.
func TestCrowdBehindOneAddress(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.RateLimitMax, c.AuthIPMax = 60, 100 }})
	refused := 0
	var signedIn *http.Client
	for i := range 300 {
		c := newClient()
		signedIn = c
		addr := fmt.Sprintf("person%d@example.com", i)
		r := h.postJSON(c, "/api/auth/passwordless/email/send", map[string]string{"email": addr})
		if r.StatusCode == 429 {
			refused++
			continue
		}
		id := r.json(t)["authRequestId"].(string)
		code := h.mail.Last(t, addr).Code
		if i%10 == 0 {
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			if r := h.postJSON(c, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": wrong}); r.StatusCode == 429 {
				refused++
			}
		}
		if r := h.postJSON(c, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": code}); r.StatusCode != 200 {
			t.Fatalf("person %d: verify %d %s", i, r.StatusCode, r.body)
		}
		for range 5 {
			if r := h.get(c, "/api/me"); r.StatusCode != 200 {
				t.Fatalf("person %d: /api/me %d", i, r.StatusCode)
			}
		}
	}
	if refused != 0 {
		t.Fatalf("%d of the crowd's requests were refused", refused)
	}
	// The same address mails 300 addresses that never sign in.
	sent, limited := 0, 0
	for i := range 300 {
		r := h.postJSON(newClient(), "/api/auth/passwordless/email/send", map[string]string{"email": fmt.Sprintf("nobody%d@example.com", i)})
		switch r.StatusCode {
		case 200:
			sent++
		case 429:
			limited++
		default:
			t.Fatalf("send: %d", r.StatusCode)
		}
	}
	if limited < 150 {
		t.Fatalf("of 300 sends to addresses that never sign in, %d were refused; want at least half", limited)
	}
	// The engine's refusals are its own to count: they spent none of the
	// per-IP budget of failed requests, which signed-in people never
	// draw on anyway.
	if r := h.get(newClient(), "/api/me"); r.StatusCode != 401 {
		t.Fatalf("after the engine's refusals, an anonymous /api/me answered %d, want 401", r.StatusCode)
	}
	for range 5 {
		if r := h.get(signedIn, "/api/me"); r.StatusCode != 200 {
			t.Fatalf("a signed-in person behind the address: /api/me %d", r.StatusCode)
		}
	}
}

// TestSignedInRequestsAreNeverLimitedPerIP: once the address has spent
// its budget of failed requests, anonymous ones are refused while a
// signed-in person's /api/me and sign-out still go through.
func TestSignedInRequestsAreNeverLimitedPerIP(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) { c.RateLimitMax = 3 }})
	person := newClient()
	id, m := h.send(person, "ada@example.com")
	if r := h.postJSON(person, "/api/auth/passwordless/email/verify/code", map[string]string{"authRequestId": id, "code": m.Code}); r.StatusCode != 200 {
		t.Fatalf("verify: %d %s", r.StatusCode, r.body)
	}
	for i := range 3 {
		if r := h.get(newClient(), "/api/me"); r.StatusCode != 401 {
			t.Fatalf("anonymous request %d: %d, want 401", i+1, r.StatusCode)
		}
	}
	wantError(t, h.get(newClient(), "/api/me"), 429, auth.CodeRateLimited)
	for range 10 {
		if r := h.get(person, "/api/me"); r.StatusCode != 200 {
			t.Fatalf("signed in, behind a spent address: /api/me %d", r.StatusCode)
		}
	}
	if r := h.postJSON(person, "/api/auth/logout", nil); r.StatusCode != 200 {
		t.Fatalf("signed in, behind a spent address: logout %d", r.StatusCode)
	}
	wantError(t, h.get(person, "/api/me"), 429, auth.CodeRateLimited)
}

func TestOutboxIsNeverServedInProduction(t *testing.T) {
	store := memstore.New()
	svc, _ := auth.NewService(authtest.Config(t, store, auth.SystemClock{}), store, &authtest.Mailbox{})
	base, _ := url.Parse("https://login.example.com")
	s, err := web.New(web.Config{Production: true, BaseURL: base}, web.Deps{Login: svc, Sessions: svc, IPLimiter: store, Outbox: outbox.New(nil, 10), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/outbox", "/dev/outbox.json"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("%s in production with an outbox wired: %d, want 404", path, rec.Code)
		}
	}
}

// TestOutboxAnswersLoopbackPeersOnly: the dev outbox shows every code, so
// it answers only a socket peer on this machine, whatever X-Forwarded-For
// says, and not at all through a proxy.
func TestOutboxAnswersLoopbackPeersOnly(t *testing.T) {
	store := memstore.New()
	svc, _ := auth.NewService(authtest.Config(t, store, auth.SystemClock{}), store, &authtest.Mailbox{})
	base, _ := url.Parse("http://localhost:3000")
	deps := web.Deps{Login: svc, Sessions: svc, IPLimiter: store, Outbox: outbox.New(nil, 10), Logger: discardLogger()}
	s, err := web.New(web.Config{BaseURL: base, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		header     []string
		want       int
	}{
		{"IPv4 loopback", "127.0.0.1:50000", nil, 200},
		{"IPv6 loopback", "[::1]:50000", nil, 200},
		{"other loopback", "127.0.0.2:50000", nil, 200},
		{"remote", "203.0.113.7:50000", nil, 404},
		{"remote v6", "[2001:db8::7]:50000", nil, 404},
		{"remote claiming loopback", "203.0.113.7:50000", []string{"X-Forwarded-For", "127.0.0.1"}, 404},
		{"through a local proxy", "127.0.0.1:50000", []string{"X-Forwarded-For", "203.0.113.7"}, 404},
		{"through a local proxy, Forwarded", "127.0.0.1:50000", []string{"Forwarded", "for=203.0.113.7"}, 404},
	} {
		for _, path := range []string{"/dev/outbox", "/dev/outbox.json"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = tc.peer
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%s: %s answered %d, want %d", tc.name, path, rec.Code, tc.want)
			}
		}
	}
	// An outbox behind a public BaseURL is a wiring mistake web.New refuses.
	public, _ := url.Parse("https://login.example.com")
	if _, err := web.New(web.Config{BaseURL: public}, deps); err == nil {
		t.Fatal("web.New accepted a dev outbox with a public BaseURL")
	}
}

// TestNewWithoutBaseURL: a missing BaseURL is an error, not a panic.
func TestNewWithoutBaseURL(t *testing.T) {
	store := memstore.New()
	svc, _ := auth.NewService(authtest.Config(t, store, auth.SystemClock{}), store, &authtest.Mailbox{})
	if _, err := web.New(web.Config{}, web.Deps{Login: svc, Sessions: svc, IPLimiter: store, Logger: discardLogger()}); err == nil {
		t.Fatal("web.New without a BaseURL: no error")
	}
}

// TestForwardedForWithPorts: a trusted proxy that writes ip:port in
// X-Forwarded-For still has each client counted on its own.
func TestForwardedForWithPorts(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) {
		c.RateLimitMax = 1
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	for _, xff := range []string{"198.51.100.1:50001", "198.51.100.2:50001", "[2001:db8:1::1]:50001", "[2001:db8:2::1]", "192.0.2.9, 198.51.100.3:443"} {
		if r := h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", xff); r.StatusCode == 429 {
			t.Fatalf("client %q was limited by another's count", xff)
		}
	}
	// The same client from another port is the same client.
	wantError(t, h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", "198.51.100.1:50002"), 429, auth.CodeRateLimited)
	wantError(t, h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", "[2001:db8:1::1]:50002"), 429, auth.CodeRateLimited)
}

// TestIPv6SiteLimit: per-IP limits count IPv6 clients by /64, and by /48
// at four times the limit, so walking the /64s of one site buys no more.
func TestIPv6SiteLimit(t *testing.T) {
	h := newHarness(t, options{web: func(c *web.Config) {
		c.RateLimitMax = 2
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	get := func(xff string) response { return h.do(h.client, "GET", "/api/me", "", nil, "X-Forwarded-For", xff) }
	// One /64: two requests, whatever the address inside it.
	get("2001:db8:0:1::1")
	get("2001:db8:0:1::2")
	wantError(t, get("2001:db8:0:1::3"), 429, auth.CodeRateLimited)
	// Other /64s of the same /48 share its budget of 4×2 (the refusal above
	// stopped at the /64 and took nothing from the /48).
	for i := 2; i <= 4; i++ {
		for j := range 2 {
			if r := get(fmt.Sprintf("2001:db8:0:%x::%d", i, j+1)); r.StatusCode != 200 && r.StatusCode != 401 {
				t.Fatalf("/64 #%d, request %d: %d", i, j+1, r.StatusCode)
			}
		}
	}
	wantError(t, get("2001:db8:0:5::1"), 429, auth.CodeRateLimited)
	// Another /48 is another site.
	if r := get("2001:db8:1:1::1"); r.StatusCode == 429 {
		t.Fatal("another /48 was limited")
	}
}

// TestLinkPageNamesTheAccountAndWarnsElsewhere: login CSRF through the
// confirm page (an attacker mails their own link to a victim) is met by
// naming the account the link signs in, and by a warning wherever the
// page is not open in the browser that asked for the email.
func TestLinkPageNamesTheAccountAndWarnsElsewhere(t *testing.T) {
	h := newHarness(t, options{})
	_, m := h.send(h.client, "mallory@example.org")
	const warning = "You didn&#39;t ask for this email in this browser"
	victim := h.get(newClient(), linkPath(t, m.Link))
	body := string(victim.body)
	if victim.StatusCode != 200 || !strings.Contains(body, "m•••@example.org") || !strings.Contains(body, warning) || strings.Contains(body, "mallory@") {
		t.Fatalf("link page in another browser: %d\n%s", victim.StatusCode, body)
	}
	asker := h.get(h.client, linkPath(t, m.Link))
	if body := string(asker.body); !strings.Contains(body, "m•••@example.org") || strings.Contains(body, warning) {
		t.Fatalf("link page in the asking browser:\n%s", body)
	}
}

// TestJSONKeysMatchExactly: a key that differs from a field's name only
// in case, or a field given twice (under one name or both of its names),
// is refused, so nothing in front of Latch reads another address than
// the one mailed.
func TestJSONKeysMatchExactly(t *testing.T) {
	h := newHarness(t, options{})
	for _, body := range []string{
		`{"email":"ada@example.com","EMAIL":"eve@example.com"}`,
		`{"Email":"eve@example.com"}`,
		`{"email":"ada@example.com","email":"eve@example.com"}`,
	} {
		r := h.do(h.client, http.MethodPost, "/api/auth/passwordless/email/send", "application/json", strings.NewReader(body))
		wantError(t, r, 400, auth.CodeInvalidRequest)
	}
	for _, body := range []string{`{"linkToken":"a","link_token":"b"}`, `{"link_token":"a","LINK_TOKEN":"b"}`} {
		r := h.do(h.client, http.MethodPost, "/api/auth/passwordless/verify", "application/json", strings.NewReader(body))
		wantError(t, r, 400, auth.CodeInvalidRequest)
	}
	if n := h.mail.Count(); n != 0 {
		t.Fatalf("%d mails were sent", n)
	}
}

// TestInvisibleCharactersInEmail: zero-width, bidi and other invisible
// characters make an address that looks like another: invalid_email.
func TestInvisibleCharactersInEmail(t *testing.T) {
	h := newHarness(t, options{})
	for _, addr := range []string{"ada\u200b@example.com", "ada@exam\u200dple.com", "\u202eada@example.com", "ada\u2069@example.com", "\ufeffada@example.com"} {
		wantError(t, h.postJSON(h.client, "/api/auth/passwordless/email/send", map[string]string{"email": addr}), 400, auth.CodeInvalidEmail)
	}
}
