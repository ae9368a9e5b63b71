package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The relying parties the OpenID tests register.
const (
	rpRedirect     = "http://127.0.0.1:9/callback"
	rpSecret       = "rp-secret-0123456789abcdef"
	nativeRedirect = "http://127.0.0.1/native"
)

func writeTestClients(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "clients.yaml")
	yaml := `
- id: app
  secret: ` + rpSecret + `
  name: The App
  redirectUris: ["` + rpRedirect + `"]
  postLogoutRedirectUris: ["http://127.0.0.1:9/bye"]
- id: native
  public: true
  redirectUris: ["` + nativeRedirect + `", "com.example.app:/cb"]
- id: picky
  secret: ` + rpSecret + `
  redirectUris: ["` + rpRedirect + `"]
  allow: {domains: ["allowed.example"]}
- id: asks
  secret: ` + rpSecret + `
  consent: true
  redirectUris: ["` + rpRedirect + `"]
- id: off
  secret: ` + rpSecret + `
  disabled: true
  redirectUris: ["` + rpRedirect + `"]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rp is a relying party built on go-oidc and x/oauth2, as an app would.
type rp struct {
	t        *testing.T
	l        *latch
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, l *latch, clientID, secret string) *rp {
	t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, l.base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &rp{t: t, l: l, provider: p,
		conf: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect,
			Scopes: []string{oidc.ScopeOpenID, "email", "offline_access"}},
		verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
	}
}

// location GETs path (or an absolute URL) and returns the Location it
// redirects to, failing the test when it does not redirect.
func (b *client) location(target string) *url.URL {
	b.t.Helper()
	status, h, body := b.get(target)
	if status != http.StatusFound && status != http.StatusSeeOther {
		b.t.Fatalf("GET %s: %d, want a redirect\n%s", target, status, body)
	}
	u, err := url.Parse(h.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func (b *client) get(target string) (int, http.Header, []byte) {
	b.t.Helper()
	return b.do(http.MethodGet, strings.TrimPrefix(target, b.base), "", "")
}

var authRequestField = regexp.MustCompile(`name="auth_request_id" value="([^"]+)"`)

// signInAt completes Latch's /login (the page a /oauth/authorize sent the
// browser to) by the emailed code, and returns where /login lands.
func (b *client) signInAt(login *url.URL, email string) *url.URL {
	b.t.Helper()
	if login.Path != "/login" {
		b.t.Fatalf("sent to %s, want /login", login)
	}
	redirectTo := login.Query().Get("redirect_to")
	// Count the mail already there, so that the code read is this send's.
	if b.seen == nil {
		b.seen = map[string]int{}
	}
	_, box := b.getJSON("/dev/outbox.json?to=" + url.QueryEscape(email))
	msgs, _ := box["messages"].([]any)
	b.seen[email] = len(msgs)
	form := url.Values{"email": {email}, "redirect_to": {redirectTo}}
	status, _, page := b.do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form.Encode())
	m := authRequestField.FindSubmatch(page)
	if status != 200 || m == nil {
		b.t.Fatalf("POST /login: %d\n%s", status, page)
	}
	code, _ := b.lastMail(email)
	form = url.Values{"code": {code}, "email": {email}, "auth_request_id": {string(m[1])}}
	status, h, page := b.do(http.MethodPost, "/login/code", "application/x-www-form-urlencoded", form.Encode())
	if status != http.StatusSeeOther {
		b.t.Fatalf("POST /login/code: %d\n%s", status, page)
	}
	u, _ := url.Parse(h.Get("Location"))
	return u
}

// authorize starts a code flow in browser b and follows it through
// /login (signing in as email when asked) to the redirect back to the
// client; it returns that redirect's query.
func (r *rp) authorize(b *client, email string, opts ...oauth2.AuthCodeOption) url.Values {
	r.t.Helper()
	u := b.location(r.conf.AuthCodeURL("st-1", opts...))
	if u.Path == "/login" {
		u = b.location(b.signInAt(u, email).String())
	}
	if !strings.HasPrefix(u.String(), strings.Split(r.conf.RedirectURL, "?")[0]) {
		r.t.Fatalf("landed on %s, want the client's redirect URI", u)
	}
	return u.Query()
}

func (r *rp) exchange(code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, *oidc.IDToken) {
	r.t.Helper()
	tok, err := r.conf.Exchange(context.Background(), code, opts...)
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(context.Background(), raw)
	if err != nil {
		r.t.Fatalf("verify the ID token: %v", err)
	}
	return tok, idt
}

func mustOAuthError(t *testing.T, err error, want string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != want {
		t.Fatalf("got %v, want the OAuth error %s", err, want)
	}
}

func pkce() (verifier string, challenge oauth2.AuthCodeOption, proof oauth2.AuthCodeOption) {
	v := oauth2.GenerateVerifier()
	return v, oauth2.S256ChallengeOption(v), oauth2.VerifierOption(v)
}

func startOIDC(t *testing.T) *latch {
	t.Helper()
	dir := t.TempDir()
	return startLatch(t, testEnv(dir, "CLIENTS_FILE", writeTestClients(t, dir), "RATE_LIMIT_AUTH_EMAIL_MAX", "100"))
}

// TestOpenIDConformance follows the OpenID Foundation's Basic OP
// conformance plan: each case is named after the module it stands for and
// asserts what that module expects of the provider.
func TestOpenIDConformance(t *testing.T) {
	l := startOIDC(t)
	app := newRP(t, l, "app", rpSecret)
	const email = "ada@example.org"
	// One browser signed in once serves the modules that need a session.
	signedIn := newBrowser(t, l.base)
	first := app.authorize(signedIn, email, oidc.Nonce("n-0"))
	_, firstID := app.exchange(first.Get("code"))

	cases := []struct {
		module string
		run    func(t *testing.T)
	}{
		{"oidcc-server", func(t *testing.T) {
			b := newBrowser(t, l.base)
			q := app.authorize(b, email, oidc.Nonce("n-1"))
			if q.Get("state") != "st-1" || q.Get("iss") != l.base {
				t.Fatalf("redirect query %v: want state and iss (RFC 9207)", q)
			}
			tok, idt := app.exchange(q.Get("code"))
			var c struct {
				Nonce         string `json:"nonce"`
				Email         string `json:"email"`
				EmailVerified bool   `json:"email_verified"`
				AuthTime      int64  `json:"auth_time"`
				Sid           string `json:"sid"`
				Azp           string `json:"azp"`
			}
			idt.Claims(&c)
			if c.Nonce != "n-1" || c.Email != email || !c.EmailVerified || c.AuthTime == 0 || c.Sid == "" || c.Azp != "app" {
				t.Fatalf("ID token claims %+v", c)
			}
			_, me := b.getJSON("/api/me")
			if user, _ := me["user"].(map[string]any); user["id"] != idt.Subject {
				t.Fatalf("sub %s is not /api/me's id %v", idt.Subject, me)
			}
			info, err := app.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != idt.Subject || info.Email != email || !info.EmailVerified {
				t.Fatalf("userinfo %+v, %v", info, err)
			}
		}},
		{"oidcc-response-type-missing", func(t *testing.T) {
			q := url.Values{"client_id": {"app"}, "redirect_uri": {rpRedirect}, "scope": {"openid"}, "state": {"s"}}
			u := newBrowser(t, l.base).location("/oauth/authorize?" + q.Encode())
			if u.Query().Get("error") != "invalid_request" || u.Query().Get("state") != "s" || u.Query().Get("iss") != l.base {
				t.Fatalf("redirected to %s", u)
			}
		}},
		{"oidcc-ensure-redirect-uri-in-authorization-request", func(t *testing.T) {
			q := url.Values{"client_id": {"app"}, "response_type": {"code"}, "scope": {"openid"}}
			mustErrorPage(t, newBrowser(t, l.base), "/oauth/authorize?"+q.Encode())
		}},
		{"oidcc-ensure-registered-redirect-uri", func(t *testing.T) {
			q := url.Values{"client_id": {"app"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {"https://evil.example/cb"}}
			mustErrorPage(t, newBrowser(t, l.base), "/oauth/authorize?"+q.Encode())
		}},
		{"oidcc-codereuse", func(t *testing.T) {
			q := app.authorize(signedIn, email)
			tok, _ := app.exchange(q.Get("code"))
			_, err := app.conf.Exchange(context.Background(), q.Get("code"))
			mustOAuthError(t, err, "invalid_grant")
			// What the first use issued is revoked with it.
			_, err = app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			mustOAuthError(t, err, "invalid_grant")
		}},
		{"oidcc-prompt-none-not-logged-in", func(t *testing.T) {
			u := newBrowser(t, l.base).location(app.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("prompt", "none")))
			if u.Query().Get("error") != "login_required" || u.Query().Get("state") != "st-1" {
				t.Fatalf("redirected to %s, want login_required", u)
			}
		}},
		{"oidcc-prompt-none-logged-in", func(t *testing.T) {
			u := signedIn.location(app.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("prompt", "none")))
			if u.Query().Get("code") == "" {
				t.Fatalf("redirected to %s, want a code", u)
			}
		}},
		{"oidcc-prompt-login", func(t *testing.T) {
			b := newBrowser(t, l.base)
			app.authorize(b, email)
			u := b.location(app.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("prompt", "login")))
			if u.Path != "/login" || u.Query().Get("prompt") != "login" {
				t.Fatalf("a signed-in browser with prompt=login went to %s", u)
			}
			// /login signs in anew though a session exists, then the
			// authorization completes by itself.
			if status, _, _ := b.get(u.String()); status != 200 {
				t.Fatalf("GET /login?prompt=login: %d, want the page", status)
			}
			back := b.location(b.signInAt(u, email).String())
			if back.Query().Get("code") == "" {
				t.Fatalf("after signing in again: %s", back)
			}
		}},
		{"oidcc-max-age-1", func(t *testing.T) {
			b := newBrowser(t, l.base)
			_, before := app.exchange(app.authorize(b, email).Get("code"))
			time.Sleep(2100 * time.Millisecond)
			u := b.location(app.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("max_age", "1")))
			if u.Path != "/login" {
				t.Fatalf("max_age=1 on a 2 s old sign-in went to %s, want /login", u)
			}
			back := b.location(b.signInAt(u, email).String())
			_, after := app.exchange(back.Query().Get("code"))
			if authTime(after) <= authTime(before) {
				t.Fatalf("auth_time %d after a fresh sign-in, was %d", authTime(after), authTime(before))
			}
		}},
		{"oidcc-userinfo-get", func(t *testing.T) {
			tok, _ := app.exchange(app.authorize(signedIn, email).Get("code"))
			mustUserinfo(t, signedIn, tok.AccessToken, http.MethodGet, firstID.Subject)
		}},
		{"oidcc-userinfo-post-header", func(t *testing.T) {
			tok, _ := app.exchange(app.authorize(signedIn, email).Get("code"))
			mustUserinfo(t, signedIn, tok.AccessToken, "POST-header", firstID.Subject)
		}},
		{"oidcc-userinfo-post-body", func(t *testing.T) {
			tok, _ := app.exchange(app.authorize(signedIn, email).Get("code"))
			mustUserinfo(t, signedIn, tok.AccessToken, "POST-body", firstID.Subject)
		}},
		{"oidcc-refresh-token", func(t *testing.T) {
			tok, _ := app.exchange(app.authorize(signedIn, email).Get("code"))
			next, err := app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh: %v (a new refresh token each time)", err)
			}
			if _, err := app.verifier.Verify(context.Background(), next.Extra("id_token").(string)); err != nil {
				t.Fatalf("the refreshed ID token: %v", err)
			}
			// The rotated token presented again revokes the whole family.
			_, err = app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			mustOAuthError(t, err, "invalid_grant")
			_, err = app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: next.RefreshToken}).Token()
			mustOAuthError(t, err, "invalid_grant")
		}},
		{"oidcc-ensure-request-without-nonce-succeeds-for-code-flow", func(t *testing.T) {
			_, idt := app.exchange(app.authorize(signedIn, email).Get("code"))
			if idt.Nonce != "" {
				t.Fatalf("nonce %q without one asked", idt.Nonce)
			}
		}},
		{"oidcc-scope-email", func(t *testing.T) {
			conf := app.conf
			conf.Scopes = []string{"openid", "email"}
			r := *app
			r.conf = conf
			_, idt := r.exchange(r.authorize(signedIn, email).Get("code"))
			var c struct{ Email string }
			idt.Claims(&c)
			if c.Email != email {
				t.Fatalf("email %q", c.Email)
			}
		}},
		{"oidcc-ensure-other-scope-order-succeeds", func(t *testing.T) {
			r := *app
			r.conf.Scopes = []string{"email", "openid"}
			r.exchange(r.authorize(signedIn, email).Get("code"))
		}},
		{"oidcc-ensure-request-with-unknown-parameter-succeeds", func(t *testing.T) {
			app.exchange(app.authorize(signedIn, email, oauth2.SetAuthURLParam("extra", "foobar")).Get("code"))
		}},
		{"oidcc-ensure-request-with-acr-values-succeeds", func(t *testing.T) {
			app.exchange(app.authorize(signedIn, email, oauth2.SetAuthURLParam("acr_values", "1 2")).Get("code"))
		}},
		{"oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
			u := signedIn.location(app.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("request", "eyJhbGciOiJub25lIn0.e30.")))
			if u.Query().Get("error") != "request_not_supported" {
				t.Fatalf("redirected to %s", u)
			}
		}},
		{"oidcc-client-secret-basic", func(t *testing.T) {
			r := *app
			r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			r.exchange(r.authorize(signedIn, email).Get("code"))
		}},
		{"oidcc-client-secret-post", func(t *testing.T) {
			r := *app
			r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			r.exchange(r.authorize(signedIn, email).Get("code"))
		}},
		{"oidcc-id-token-claims", func(t *testing.T) {
			// aud, iss, exp, iat, sub, kid and alg are checked by go-oidc's
			// verifier already; what it does not check:
			tok, _ := app.conf.Exchange(context.Background(), app.authorize(signedIn, email).Get("code"))
			raw := tok.Extra("id_token").(string)
			header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
			var h struct{ Alg, Kid string }
			json.Unmarshal(header, &h)
			if h.Alg != "RS256" || h.Kid == "" {
				t.Fatalf("header %s: want RS256 with a kid", header)
			}
			idt, _ := app.verifier.Verify(context.Background(), raw)
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Fatalf("at_hash: %v", err)
			}
			if idt.Expiry.Sub(idt.IssuedAt) <= 0 || time.Since(idt.IssuedAt) > time.Minute {
				t.Fatalf("iat %s exp %s", idt.IssuedAt, idt.Expiry)
			}
		}},
		{"oidcc-discovery-issuer", func(t *testing.T) {
			var d map[string]any
			_, _, body := signedIn.get("/.well-known/openid-configuration")
			json.Unmarshal(body, &d)
			if d["issuer"] != l.base || d["jwks_uri"] != l.base+"/keys" || d["token_endpoint"] != l.base+"/oauth/token" ||
				d["authorization_endpoint"] != l.base+"/oauth/authorize" || d["end_session_endpoint"] != l.base+"/oidc/logout" ||
				d["authorization_response_iss_parameter_supported"] != true {
				t.Fatalf("discovery %v", d)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.module, tc.run)
	}
}

func authTime(idt *oidc.IDToken) int64 {
	var c struct {
		AuthTime int64 `json:"auth_time"`
	}
	idt.Claims(&c)
	return c.AuthTime
}

func mustErrorPage(t *testing.T, b *client, target string) {
	t.Helper()
	status, h, body := b.get(target)
	if status != http.StatusBadRequest || h.Get("Location") != "" || !strings.Contains(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d %v, want a 400 page and no redirect\n%s", target, status, h, body)
	}
}

func mustUserinfo(t *testing.T, b *client, access, how, sub string) {
	t.Helper()
	var req *http.Request
	switch how {
	case http.MethodGet:
		req, _ = http.NewRequest(http.MethodGet, b.base+"/oauth/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+access)
	case "POST-header":
		req, _ = http.NewRequest(http.MethodPost, b.base+"/oauth/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+access)
	case "POST-body":
		req, _ = http.NewRequest(http.MethodPost, b.base+"/oauth/userinfo", strings.NewReader(url.Values{"access_token": {access}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	if resp.StatusCode != 200 || v["sub"] != sub || v["email_verified"] != true {
		t.Fatalf("userinfo %s: %d %v", how, resp.StatusCode, v)
	}
}

// TestOpenIDFlows covers what the conformance plan leaves to the OP: PKCE
// for public and native clients, client authentication, disabled and
// unregistered clients, allow rules, consent, logout and the revocation
// of refresh tokens by signing out everywhere.
func TestOpenIDFlows(t *testing.T) {
	l := startOIDC(t)
	app := newRP(t, l, "app", rpSecret)
	const email = "grace@example.org"
	b := newBrowser(t, l.base)
	app.authorize(b, email) // signs this browser in

	t.Run("code flow with PKCE", func(t *testing.T) {
		_, challenge, proof := pkce()
		q := app.authorize(b, email, challenge)
		if _, err := app.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Fatal("a wrong code_verifier was accepted")
		}
		q = app.authorize(b, email, challenge)
		app.exchange(q.Get("code"), proof)
	})
	t.Run("plain PKCE is refused", func(t *testing.T) {
		u := b.location(app.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("code_challenge", "x"), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		if u.Query().Get("error") != "invalid_request" {
			t.Fatalf("redirected to %s", u)
		}
	})
	native := newRP(t, l, "native", "")
	t.Run("public client without PKCE", func(t *testing.T) {
		native.conf.RedirectURL = nativeRedirect
		u := b.location(native.conf.AuthCodeURL("st-1"))
		if u.Query().Get("error") != "invalid_request" {
			t.Fatalf("redirected to %s", u)
		}
	})
	t.Run("native app on a loopback port of its own (RFC 8252)", func(t *testing.T) {
		native.conf.RedirectURL = "http://127.0.0.1:53127/native"
		_, challenge, proof := pkce()
		q := native.authorize(b, email, challenge)
		tok, _ := native.exchange(q.Get("code"), proof)
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}
		native.conf.RedirectURL = "http://127.0.0.1:53127/elsewhere"
		mustErrorPage(t, b, native.conf.AuthCodeURL("st-1", challenge))
	})
	t.Run("wrong client secret", func(t *testing.T) {
		q := app.authorize(b, email)
		bad := *app
		bad.conf.ClientSecret = "not-the-secret"
		bad.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		_, err := bad.conf.Exchange(context.Background(), q.Get("code"))
		mustOAuthError(t, err, "invalid_client")
		if re := err.(*oauth2.RetrieveError); re.Response.StatusCode != 401 || re.Response.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%d %v: want 401 with WWW-Authenticate", re.Response.StatusCode, re.Response.Header)
		}
	})
	t.Run("disabled client", func(t *testing.T) {
		off := newRP(t, l, "off", rpSecret)
		mustErrorPage(t, b, off.conf.AuthCodeURL("st-1"))
	})
	t.Run("unknown client", func(t *testing.T) {
		mustErrorPage(t, b, "/oauth/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri="+url.QueryEscape(rpRedirect))
	})
	t.Run("allow rules", func(t *testing.T) {
		picky := newRP(t, l, "picky", rpSecret)
		u := b.location(picky.conf.AuthCodeURL("st-1"))
		if u.Query().Get("error") != "access_denied" {
			t.Fatalf("a person outside the allow list: %s", u)
		}
	})
	t.Run("consent once", func(t *testing.T) {
		asks := newRP(t, l, "asks", rpSecret)
		u := b.location(asks.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("prompt", "none")))
		if u.Query().Get("error") != "consent_required" {
			t.Fatalf("prompt=none before consent: %s", u)
		}
		status, _, page := b.get(asks.conf.AuthCodeURL("st-1"))
		m := regexp.MustCompile(`name="request" value="([^"]+)"`).FindSubmatch(page)
		if status != 200 || m == nil {
			t.Fatalf("consent page: %d\n%s", status, page)
		}
		form := url.Values{"request": {string(m[1])}, "decision": {"allow"}}
		_, h, _ := b.do(http.MethodPost, "/oauth/authorize/consent", "application/x-www-form-urlencoded", form.Encode())
		back, _ := url.Parse(h.Get("Location"))
		asks.exchange(back.Query().Get("code"))
		// Remembered: the next request needs no page.
		if u := b.location(asks.conf.AuthCodeURL("st-1", oauth2.SetAuthURLParam("prompt", "none"))); u.Query().Get("code") == "" {
			t.Fatalf("after consent: %s", u)
		}
	})
	t.Run("client_credentials without the provider API", func(t *testing.T) {
		status, _, body := b.do(http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=app&client_secret="+rpSecret)
		if status != 400 || !strings.Contains(string(body), `"unsupported_grant_type"`) {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("sign out everywhere revokes refresh tokens", func(t *testing.T) {
		other := newBrowser(t, l.base)
		tok, _ := app.exchange(app.authorize(other, "linus@example.org").Get("code"))
		if status, _ := other.postJSON("/api/auth/logout?scope=global", map[string]any{}); status != 200 {
			t.Fatalf("logout: %d", status)
		}
		_, err := app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		mustOAuthError(t, err, "invalid_grant")
	})
	t.Run("revocation", func(t *testing.T) {
		tok, _ := app.exchange(app.authorize(b, email).Get("code"))
		form := url.Values{"token": {tok.RefreshToken}, "client_id": {"app"}, "client_secret": {rpSecret}}
		if status, _, body := b.do(http.MethodPost, "/oauth/revoke", "application/x-www-form-urlencoded", form.Encode()); status != 200 {
			t.Fatalf("revoke: %d %s", status, body)
		}
		_, err := app.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		mustOAuthError(t, err, "invalid_grant")
	})
	t.Run("RP-initiated logout", func(t *testing.T) {
		tok, _ := app.exchange(app.authorize(b, email).Get("code"))
		q := url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"bye-1"}}
		u := b.location("/oidc/logout?" + q.Encode())
		if u.String() != "http://127.0.0.1:9/bye?state=bye-1" {
			t.Fatalf("logout went to %s", u)
		}
		if status, _ := b.getJSON("/api/me"); status != 401 {
			t.Fatalf("/api/me after logout: %d", status)
		}
		q.Set("post_logout_redirect_uri", "https://evil.example/")
		mustErrorPage(t, b, "/oidc/logout?"+q.Encode())
	})
}

// TestOpenIDAcrossReplicas authorizes on one replica and redeems the code
// and refresh token on the other: every OpenID record lives in Redis.
func TestOpenIDAcrossReplicas(t *testing.T) {
	redisURL := testRedisURL(t)
	prefix := randomPrefix()
	t.Cleanup(func() { deleteKeys(t, redisURL, prefix) })
	clients := writeTestClients(t, t.TempDir())
	pa, pb := freePort(t), freePort(t)
	base := "http://127.0.0.1:" + itoa(pa)
	env := func(port int) map[string]string {
		e := redisEnv(t, redisURL, prefix)
		e["PORT"], e["BASE_URL"], e["CLIENTS_FILE"] = itoa(port), base, clients
		return e
	}
	a, b := startLatch(t, env(pa)), startLatch(t, env(pb))

	ctx := context.Background()
	conf := oauth2.Config{ClientID: "app", ClientSecret: rpSecret, RedirectURL: rpRedirect,
		Scopes:   []string{"openid", "email", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: a.base + "/oauth/authorize", TokenURL: b.base + "/oauth/token"}}
	verifier := oidc.NewVerifier(base, oidc.NewRemoteKeySet(ctx, b.base+"/keys"), &oidc.Config{ClientID: "app"})

	br := newBrowser(t, a.base)
	login := br.location(conf.AuthCodeURL("st-1"))
	form := url.Values{"email": {"ada@example.org"}, "redirect_to": {login.Query().Get("redirect_to")}}
	_, _, page := br.do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form.Encode())
	m := authRequestField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("POST /login on A:\n%s", page)
	}
	code, _ := mailFrom(t, "ada@example.org", map[string]bool{}, a, b)
	form = url.Values{"code": {code}, "email": {"ada@example.org"}, "auth_request_id": {string(m[1])}}
	_, h, _ := br.do(http.MethodPost, "/login/code", "application/x-www-form-urlencoded", form.Encode())
	back := br.location(h.Get("Location"))

	tok, err := conf.Exchange(ctx, back.Query().Get("code"))
	if err != nil {
		t.Fatalf("exchange on B: %v", err)
	}
	if _, err := verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatalf("the ID token against B's keys: %v", err)
	}
	// Refresh on A, then the rotated token on B is reuse.
	conf.Endpoint.TokenURL = a.base + "/oauth/token"
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("refresh on A: %v", err)
	}
	conf.Endpoint.TokenURL = b.base + "/oauth/token"
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	mustOAuthError(t, err, "invalid_grant")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestClientsCommandAndReload registers a client with latch clients add
// (its secret kept as a bcrypt hash), signs in through it, then removes
// it and reloads the registry with SIGHUP; a broken file on reload keeps
// the registry that was read before.
func TestClientsCommandAndReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	env := func(k string) string { return map[string]string{"CLIENTS_FILE": file}[k] }
	var out strings.Builder
	if err := run(context.Background(), []string{"clients", "add", "cli", rpRedirect, "--name", "CLI app"}, env, &out); err != nil {
		t.Fatalf("clients add: %v", err)
	}
	secret := regexp.MustCompile(`client secret \(shown once, only its hash is kept\): (\S+)`).FindStringSubmatch(out.String())
	stored, _ := os.ReadFile(file)
	if secret == nil || strings.Contains(string(stored), secret[1]) || !strings.Contains(string(stored), `"$2a$`) {
		t.Fatalf("add printed %q and stored %s: want the secret printed and only its bcrypt hash kept", out.String(), stored)
	}
	out.Reset()
	if err := run(context.Background(), []string{"clients", "list"}, env, &out); err != nil || !strings.Contains(out.String(), "CLI app") {
		t.Fatalf("clients list: %v\n%s", err, out.String())
	}

	l := startLatch(t, testEnv(t.TempDir(), "CLIENTS_FILE", file, "LOG_LEVEL", "info"))
	cli := newRP(t, l, "cli", secret[1])
	b := newBrowser(t, l.base)
	cli.exchange(cli.authorize(b, "ada@example.org").Get("code"))

	// A broken file on reload: the old registry stays.
	os.WriteFile(file, []byte("[{"), 0o600)
	mustSIGHUP(t, l, "not reloaded")
	cli.exchange(cli.authorize(b, "ada@example.org").Get("code"))

	os.WriteFile(file, stored, 0o600)
	if err := run(context.Background(), []string{"clients", "remove", "cli"}, env, &out); err != nil {
		t.Fatalf("clients remove: %v", err)
	}
	mustSIGHUP(t, l, "CLIENTS_FILE reloaded")
	mustErrorPage(t, b, cli.conf.AuthCodeURL("st-1"))
}

func mustSIGHUP(t *testing.T, l *latch, logged string) {
	t.Helper()
	before := strings.Count(l.log(), logged)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); strings.Count(l.log(), logged) == before; {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after SIGHUP:\n%s", logged, l.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRegistryFeedsTheProviderAPI: a CLIENTS_FILE client with
// passwordlessApi: true gets client-credentials tokens from the shared
// /oauth/token and uses the Scalekit passwordless API; one without it
// does not.
func TestRegistryFeedsTheProviderAPI(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.json")
	os.WriteFile(file, []byte(`[{"id": "backend", "secret": "`+rpSecret+`", "passwordlessApi": true},
		{"id": "app", "secret": "`+rpSecret+`", "redirectUris": ["`+rpRedirect+`"]}]`), 0o600)
	l := startLatch(t, testEnv(dir, "CLIENTS_FILE", file))
	b := newBrowser(t, l.base)
	form := "grant_type=client_credentials&client_id=backend&client_secret=" + rpSecret
	status, _, body := b.do(http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", form)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(body, &tok)
	if status != 200 || tok.AccessToken == "" {
		t.Fatalf("client credentials of a passwordlessApi client: %d %s", status, body)
	}
	req, _ := http.NewRequest(http.MethodPost, l.base+"/api/v1/passwordless/email/send", strings.NewReader(`{"email":"ada@example.org","magiclink_auth_uri":"https://app.example.org/verify"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("send with the registry client's token: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	status, _, body = b.do(http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=app&client_secret="+rpSecret)
	if status != 401 || !strings.Contains(string(body), "invalid_client") {
		t.Fatalf("client credentials of a client without passwordlessApi: %d %s", status, body)
	}
}
