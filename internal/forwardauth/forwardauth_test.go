package forwardauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/forwardauth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/web"
)

const siteRules = `[
  {"host": "app.example.com", "allow": {"domains": ["example.com"]}},
  {"host": "ops.example.com", "allow": {"groups": ["ops"]}},
  {"host": "*.tools.example.com", "allow": {"emails": ["ada@example.com"]}}
]`

// site is Latch's web layer with forward-auth on the real engine, asked
// from 127.0.0.1 as a proxy on the same machine would.
type site struct {
	t     testing.TB
	env   *authtest.Env
	srv   *httptest.Server
	users *countingUsers
}

type siteOptions struct {
	untrusted bool // TRUSTED_PROXIES empty
	bearer    forwardauth.BearerVerifier
	store     kv.Store
	noLimits  bool // RATE_LIMIT_MAX=0, as benchmarks run
	ipLimit   int  // RATE_LIMIT_MAX when not 1000
}

func newSite(t testing.TB, o siteOptions) *site {
	t.Helper()
	if o.store == nil {
		o.store = memstore.New()
	}
	env := authtest.NewEnv(t, o.store, nil)
	path := filepath.Join(t.TempDir(), "rules.json")
	mustWrite(t, path, siteRules)
	rules, err := forwardauth.OpenRules(path)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://login.example.com")
	var proxies forwardauth.Proxies
	if !o.untrusted {
		proxies = forwardauth.Proxies{netip.MustParsePrefix("127.0.0.1/32")}
	}
	users := &countingUsers{svc: env.Svc}
	h, err := forwardauth.New(forwardauth.Config{BaseURL: base, Proxies: proxies},
		forwardauth.Deps{Rules: rules, Sessions: env.Svc, Users: users, Bearer: o.bearer, Clock: env.Clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	limit := 1000
	if o.noLimits {
		limit = 0
	} else if o.ipLimit > 0 {
		limit = o.ipLimit
	}
	w, err := web.New(web.Config{BaseURL: base, TrustedProxies: proxies, RateLimitMax: limit, RateLimitWindow: time.Minute},
		web.Deps{Login: env.Svc, Sessions: env.Svc, IPLimiter: o.store, Clock: env.Clock, Logger: slog.New(slog.DiscardHandler), ForwardAuth: h})
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, env: env, srv: httptest.NewServer(w), users: users}
	t.Cleanup(s.srv.Close)
	return s
}

// countingUsers is the engine's users, counting reads (to see the
// groups cache at work).
type countingUsers struct {
	svc   *auth.Service
	reads atomic.Int64
}

func (c *countingUsers) User(ctx context.Context, id string) (*auth.User, error) {
	c.reads.Add(1)
	return c.svc.User(ctx, id)
}

// mustSignIn signs addr in by code and returns the session cookie token
// and the session.
func (s *site) mustSignIn(addr string) (string, *auth.Session) {
	s.t.Helper()
	sent, mail := s.env.MustSend(s.t, addr, authtest.Web("192.0.2.1"))
	login, err := s.env.Svc.VerifyCode(context.Background(), sent.ChallengeID, mail.Code, authtest.Web("192.0.2.1"))
	if err != nil {
		s.t.Fatal(err)
	}
	token, sess, err := s.env.Svc.StartSession(context.Background(), login.User)
	if err != nil {
		s.t.Fatal(err)
	}
	return token, sess
}

type reply struct {
	status int
	header http.Header
	body   string
}

// ask calls path with headers given as name, value pairs; a "Cookie"
// value is the session token.
func (s *site) ask(path string, header ...string) reply {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Cookie" {
			req.AddCookie(&http.Cookie{Name: "latch_session", Value: header[i+1]})
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

const (
	forwardPath = "/api/authz/forward-auth"
	requestPath = "/api/authz/auth-request"
	browser     = "text/html,application/xhtml+xml,*/*;q=0.8"
)

func forwardedTo(host, uri string) []string {
	return []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", host, "X-Forwarded-Uri", uri}
}

func with(a []string, more ...string) []string { return append(append([]string{}, a...), more...) }

func wantCode(t *testing.T, r reply, status int, code string) {
	t.Helper()
	var v map[string]any
	if r.status != status || json.Unmarshal([]byte(r.body), &v) != nil || v["code"] != code {
		t.Fatalf("got %d %s, want %d with code %s", r.status, r.body, status, code)
	}
}

func TestForwardAuthAnswers(t *testing.T) {
	s := newSite(t, siteOptions{})
	ada, adaSess := s.mustSignIn("ada@example.com")
	bob, _ := s.mustSignIn("bob@elsewhere.example")
	loginFor := func(orig string) string {
		return "https://login.example.com/login?rd=" + url.QueryEscape(orig)
	}

	t.Run("signed in and allowed: every identity header, empty when unknown", func(t *testing.T) {
		r := s.ask(forwardPath, with(forwardedTo("app.example.com", "/x?a=1"), "Cookie", ada)...)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r.header.Get("Remote-User") != adaSess.UserID || r.header.Get("Remote-Email") != "ada@example.com" {
			t.Errorf("identity %q %q", r.header.Get("Remote-User"), r.header.Get("Remote-Email"))
		}
		if v, ok := r.header["Remote-Groups"]; !ok || len(v) != 1 || v[0] != "" {
			t.Errorf("Remote-Groups %q present=%v, want present and empty", v, ok)
		}
	})
	t.Run("browser not signed in: 302 to the login page with the original URL", func(t *testing.T) {
		r := s.ask(forwardPath, with(forwardedTo("app.example.com", "/x?a=1&b=2"), "Accept", browser)...)
		if r.status != http.StatusFound || r.header.Get("Location") != loginFor("https://app.example.com/x?a=1&b=2") {
			t.Fatalf("%d Location %q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("API client not signed in: 401", func(t *testing.T) {
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Accept", "application/json")...), 401, "unauthorized")
	})
	t.Run("a browser User-Agent alone is no browser", func(t *testing.T) {
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140")...), 401, "unauthorized")
	})
	t.Run("a stale cookie is not signed in", func(t *testing.T) {
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", strings.Repeat("A", 43))...), 401, "unauthorized")
	})
	t.Run("signed in, not allowed: 403, never a redirect", func(t *testing.T) {
		r := s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", bob, "Accept", browser)...)
		if r.status != http.StatusForbidden || r.header.Get("Location") != "" || !strings.Contains(r.body, "bob@elsewhere.example") {
			t.Fatalf("%d Location %q %s", r.status, r.header.Get("Location"), r.body)
		}
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", bob)...), 403, "forbidden")
	})
	t.Run("a host with no rule is denied, signed in or not", func(t *testing.T) {
		wantCode(t, s.ask(forwardPath, with(forwardedTo("else.example.com", "/"), "Cookie", ada)...), 403, "forbidden")
		wantCode(t, s.ask(forwardPath, forwardedTo("else.example.com", "/")...), 403, "forbidden")
	})
	t.Run("wildcard host, with a port", func(t *testing.T) {
		if r := s.ask(forwardPath, with(forwardedTo("ci.tools.example.com:8443", "/"), "Cookie", ada)...); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		wantCode(t, s.ask(forwardPath, with(forwardedTo("tools.example.com", "/"), "Cookie", ada)...), 403, "forbidden")
	})
	t.Run("groups", func(t *testing.T) {
		wantCode(t, s.ask(forwardPath, with(forwardedTo("ops.example.com", "/"), "Cookie", bob)...), 403, "forbidden")
		_, bobSess := s.mustSignIn("bob@elsewhere.example")
		if _, err := s.env.Svc.SetGroups(context.Background(), bobSess.UserID, []string{"ops", "dev"}); err != nil {
			t.Fatal(err)
		}
		s.env.Clock.Advance(6 * time.Second) // past the groups cache
		r := s.ask(forwardPath, with(forwardedTo("ops.example.com", "/"), "Cookie", bob)...)
		if r.status != 200 || r.header.Get("Remote-Groups") != "dev,ops" {
			t.Fatalf("%d Remote-Groups %q", r.status, r.header.Get("Remote-Groups"))
		}
	})
	t.Run("ambiguous X-Forwarded-Host is not believed", func(t *testing.T) {
		r := s.ask(forwardPath, "X-Forwarded-Host", "app.example.com", "X-Forwarded-Host", "ops.example.com", "Cookie", ada)
		wantCode(t, r, 403, "forbidden")
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com, ops.example.com", "/"), "Cookie", ada)...), 403, "forbidden")
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", ada, "X-Forwarded-Uri", "/other")...), 403, "forbidden")
	})
	t.Run("nginx: X-Original-URL; not signed in: 401 with the login URL", func(t *testing.T) {
		orig := "https://app.example.com/reports?q=1&r=2"
		r := s.ask(requestPath, "X-Original-URL", orig, "Accept", browser)
		if r.status != http.StatusUnauthorized || r.header.Get("Location") != loginFor(orig) {
			t.Fatalf("%d Location %q", r.status, r.header.Get("Location"))
		}
		if r := s.ask(requestPath, "X-Original-URL", orig, "Cookie", ada); r.status != 200 || r.header.Get("Remote-Email") != "ada@example.com" {
			t.Fatalf("signed in: %d %q", r.status, r.header.Get("Remote-Email"))
		}
		wantCode(t, s.ask(requestPath, "X-Original-URL", orig, "Cookie", bob), 403, "forbidden")
		if r := s.ask(requestPath, with(forwardedTo("app.example.com", "/"), "Cookie", ada)...); r.status != 200 {
			t.Fatalf("X-Forwarded-* on auth-request: %d", r.status)
		}
		for _, bad := range []string{"/relative", "ftp://app.example.com/", "https://user@app.example.com/", "https://app.example.com/a b"} {
			wantCode(t, s.ask(requestPath, "X-Original-URL", bad, "Cookie", ada), 403, "forbidden")
		}
	})
	t.Run("sign-out everywhere ends it at once", func(t *testing.T) {
		carol, carolSess := s.mustSignIn("carol@example.com")
		if r := s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", carol)...); r.status != 200 {
			t.Fatalf("%d", r.status)
		}
		if _, err := s.env.Svc.EndUserSessions(context.Background(), carolSess.UserID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", carol)...), 401, "unauthorized")
	})
}

func TestUntrustedProxyIsNotBelieved(t *testing.T) {
	s := newSite(t, siteOptions{untrusted: true})
	ada, _ := s.mustSignIn("ada@example.com")
	wantCode(t, s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", ada)...), 403, "forbidden")
	wantCode(t, s.ask(requestPath, "X-Original-URL", "https://app.example.com/", "Cookie", ada), 403, "forbidden")
	// Nor is a login URL built from what such a peer says.
	r := s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Accept", browser)...)
	if r.status != http.StatusForbidden || r.header.Get("Location") != "" {
		t.Fatalf("anonymous, untrusted: %d Location %q", r.status, r.header.Get("Location"))
	}
}

func TestGroupsCachedSessionsNot(t *testing.T) {
	s := newSite(t, siteOptions{})
	ada, sess := s.mustSignIn("ada@example.com")
	ask := func() int {
		return s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Cookie", ada)...).status
	}
	for range 5 {
		if got := ask(); got != 200 {
			t.Fatalf("%d", got)
		}
	}
	if n := s.users.reads.Load(); n != 1 {
		t.Fatalf("%d user reads for 5 questions within the cache time, want 1", n)
	}
	s.env.Clock.Advance(6 * time.Second)
	ask()
	if n := s.users.reads.Load(); n != 2 {
		t.Fatalf("%d user reads after the cache time, want 2", n)
	}
	if err := s.env.Svc.EndSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d, want 401 at once", got)
	}
}

// A proxy asks once for every request a person makes, all from its one
// address: the questions are not under the per-IP API budget.
func TestProxyQuestionsSpendNoPerIPBudget(t *testing.T) {
	s := newSite(t, siteOptions{ipLimit: 3})
	ada, _ := s.mustSignIn("ada@example.com")
	for i := range 10 {
		if r := s.ask(forwardPath, with(forwardedTo("app.example.com", "/asset.js"), "Cookie", ada)...); r.status != 200 {
			t.Fatalf("question %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := s.ask("/api/me", "Cookie", ada); r.status != 200 {
		t.Fatalf("/api/me after the questions: %d, want its budget untouched", r.status)
	}
}

// tokens is a stand-in for the JWT verifier (internal/token): it knows
// the raw tokens the test issued.
type tokens map[string][2]string

func (tk tokens) VerifyAccess(_ context.Context, raw string) (string, string, error) {
	if v, ok := tk[raw]; ok {
		return v[0], v[1], nil
	}
	return "", "", errors.New("not a token of ours")
}

func TestBearerInPlaceOfTheCookie(t *testing.T) {
	tk := tokens{}
	s := newSite(t, siteOptions{bearer: tk})
	_, sess := s.mustSignIn("ada@example.com")
	tk["good"] = [2]string{sess.UserID, sess.ID}
	tk["wrong-user"] = [2]string{"usr_other", sess.ID}
	ask := func(auth string) reply {
		return s.ask(forwardPath, with(forwardedTo("app.example.com", "/"), "Authorization", auth)...)
	}
	if r := ask("Bearer good"); r.status != 200 || r.header.Get("Remote-Email") != "ada@example.com" {
		t.Fatalf("good token: %d %q", r.status, r.header.Get("Remote-Email"))
	}
	for _, bad := range []string{"Bearer forged", "Bearer wrong-user", "Basic Z29vZA=="} {
		wantCode(t, ask(bad), 401, "unauthorized")
	}
	if err := s.env.Svc.EndSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	wantCode(t, ask("Bearer good"), 401, "unauthorized") // its session has ended
}

func TestLoginAcceptsRdToProtectedHosts(t *testing.T) {
	s := newSite(t, siteOptions{})
	for _, tc := range []struct {
		rd   string
		want int
	}{
		{"https://app.example.com/x?a=1&b=2", 200},
		{"https://ci.tools.example.com:8443/build/7", 200},
		{"https://evil.example.org/", 400},
		{"https://else.example.com/", 400},
		{"http://app.example.com/", 400}, // BASE_URL is https
		{"https://user:pw@app.example.com/", 400},
		{"//app.example.com/", 400},
		{"javascript:alert(1)", 400},
	} {
		r := s.ask("/login?rd="+url.QueryEscape(tc.rd), "Accept", browser)
		if r.status != tc.want {
			t.Errorf("rd=%s: %d, want %d", tc.rd, r.status, tc.want)
			continue
		}
		if tc.want == 200 && !strings.Contains(r.body, `name="redirect_to" value="`+strings.ReplaceAll(tc.rd, "&", "&amp;")+`"`) {
			t.Errorf("rd=%s: the login form does not carry it", tc.rd)
		}
		if tc.want == 200 && !strings.Contains(r.header.Get("Content-Security-Policy"), "https://app.example.com:*") {
			t.Errorf("form-action does not allow the protected hosts: %s", r.header.Get("Content-Security-Policy"))
		}
	}
	// The JSON API takes the same targets.
	ok := s.postJSON("/api/auth/passwordless/email/send", `{"email":"ada@example.com","redirectTo":"https://app.example.com/x?a=1"}`)
	bad := s.postJSON("/api/auth/passwordless/email/send", `{"email":"ada@example.com","redirectTo":"https://else.example.com/"}`)
	if ok != 200 || bad != 400 {
		t.Fatalf("send with redirectTo: protected %d (want 200), unprotected %d (want 400)", ok, bad)
	}
}

func (s *site) postJSON(path, body string) int {
	s.t.Helper()
	resp, err := http.Post(s.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
