package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// Field limits of an authorization request: generous for real clients,
// small enough that a pending request stays a small record.
const (
	maxStateLen     = 2048
	maxNonceLen     = 512
	maxScopeLen     = 1024
	maxHintLen      = 320
	maxChallengeLen = 128
)

// handleAuthorize checks an authorization request (OIDC Core §3.1.2),
// keeps it server-side and carries on to the sign-in step. Only an
// unknown client or an unregistered redirect URI is answered with a
// page; every other problem goes back to the client by redirect.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	client := p.clients.Client(q.Get("client_id"))
	if client == nil {
		p.errorPage(w, r, "oidc.unknown_client")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !client.RedirectAllowed(redirectURI) {
		p.errorPage(w, r, "oidc.unregistered_redirect")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) { p.redirectError(w, r, redirectURI, state, code, desc) }
	for k, v := range q {
		if len(v) > 1 {
			fail("invalid_request", "The parameter "+k+" is repeated.")
			return
		}
	}
	switch {
	case q.Get("request") != "":
		fail("request_not_supported", "Request objects are not supported.")
		return
	case q.Get("request_uri") != "":
		fail("request_uri_not_supported", "request_uri is not supported.")
		return
	case q.Get("response_type") == "":
		fail("invalid_request", "response_type is required.")
		return
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "Only response_type=code is supported.")
		return
	case q.Get("response_mode") != "" && q.Get("response_mode") != "query":
		fail("invalid_request", "Only response_mode=query is supported.")
		return
	case !hasScope(q.Get("scope"), "openid"):
		fail("invalid_scope", "The scope must include openid.")
		return
	case len(state) > maxStateLen || len(q.Get("nonce")) > maxNonceLen || len(q.Get("scope")) > maxScopeLen ||
		len(q.Get("login_hint")) > maxHintLen || len(q.Get("code_challenge")) > maxChallengeLen || len(q.Get("ui_locales")) > 100:
		fail("invalid_request", "A parameter is too long.")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		fail("invalid_request", "code_challenge_method without code_challenge.")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "Only code_challenge_method=S256 is supported (plain is refused).")
		return
	case challenge != "" && (len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != ""):
		fail("invalid_request", "code_challenge is not a base64url SHA-256.")
		return
	case challenge == "" && (client.Public || client.RequirePKCE):
		fail("invalid_request", "This client must use PKCE (code_challenge with S256).")
		return
	}
	prompt := strings.Fields(q.Get("prompt"))
	for _, v := range prompt {
		switch v {
		case "none", "login", "consent":
		case "select_account":
			// One account per browser: nothing to select.
		default:
			fail("invalid_request", "prompt="+v+" is not supported.")
			return
		}
		if v == "none" && len(prompt) > 1 {
			fail("invalid_request", "prompt=none cannot be combined with other values.")
			return
		}
	}
	maxAge := int64(-1)
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fail("invalid_request", "max_age must be a number of seconds.")
			return
		}
		maxAge = n
	}
	req := &authRequest{
		ClientID: client.ID, RedirectURI: redirectURI, Scope: q.Get("scope"), State: state, Nonce: q.Get("nonce"),
		CodeChallenge: challenge, Prompt: strings.Join(prompt, " "), MaxAge: maxAge,
		LoginHint: q.Get("login_hint"), UILocales: q.Get("ui_locales"), CreatedAt: p.clock.Now(),
	}
	id := randomString(24)
	now := p.clock.Now()
	if err := p.store.Put(r.Context(), requestKey(id), encodeRequest(req), now.Add(p.cfg.RequestTTL), now); err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	}
	p.resume(w, r, id, req)
}

// handleResume is where /login sends a person back once signed in.
func (p *Provider) handleResume(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("request")
	req, err := p.request(r, id)
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			p.errorPage(w, r, "oidc.too_late")
			return
		}
		p.log.ErrorContext(r.Context(), "oidc: read authorization request", "err", err)
		l := p.locale(r, "")
		p.renderPage(w, r, http.StatusServiceUnavailable, l, page{Title: l.T("oidc.try_shortly"), Message: l.T("oidc.cannot_answer")})
		return
	}
	p.resume(w, r, id, req)
}

func (p *Provider) request(r *http.Request, id string) (*authRequest, error) {
	if id == "" || len(id) > 64 {
		return nil, kv.ErrNotFound
	}
	rec, err := p.store.Get(r.Context(), requestKey(id), p.clock.Now())
	if err != nil {
		return nil, err
	}
	return decodeRequest(rec)
}

// resume carries a stored request as far as it can: to /login when
// nobody (or nobody fresh enough) is signed in, to the consent page when
// the client needs consent, else to the client with a code.
func (p *Provider) resume(w http.ResponseWriter, r *http.Request, id string, req *authRequest) {
	client := p.clients.Client(req.ClientID)
	if client == nil || !client.RedirectAllowed(req.RedirectURI) {
		p.errorPage(w, r, "oidc.client_gone")
		return
	}
	fail := func(code, desc string) {
		p.store.Delete(r.Context(), requestKey(id))
		p.redirectError(w, r, req.RedirectURI, req.State, code, desc)
	}
	sess, err := p.session(r)
	if err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	}
	none := req.Prompt == "none"
	if sess == nil || !p.fresh(req, sess) {
		if none {
			fail("login_required", "The person is not signed in (or not recently enough).")
			return
		}
		p.toLogin(w, r, id, req, sess != nil)
		return
	}
	user, err := p.sessions.User(r.Context(), sess.UserID)
	if err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	}
	if user.Disabled || !client.Allow.Allows(user.Email, user.Groups) {
		fail("access_denied", "This account may not sign in to this application.")
		return
	}
	if needs, err := p.needsConsent(r, client, req, user.ID); err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	} else if needs {
		if none {
			fail("consent_required", "The person has not agreed to share their account with this application.")
			return
		}
		p.consentPage(w, r, id, req, client, user.Email)
		return
	}
	code := randomString(32)
	now := p.clock.Now()
	g := &grant{
		ClientID: client.ID, RedirectURI: req.RedirectURI, UserID: user.ID, SessionID: sess.ID, Scope: req.Scope,
		Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, AuthTime: sess.CreatedAt, ExpiresAt: now.Add(p.cfg.CodeTTL),
	}
	// The record outlives the code so that a second use, even late, is
	// recognised and revokes what the first use issued.
	if err := p.store.Put(r.Context(), codeKey(code), encodeGrant(g), now.Add(codeKeep), now); err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	}
	p.store.Delete(r.Context(), requestKey(id))
	p.redirectWith(w, r, req.RedirectURI, req.State, url.Values{"code": {code}})
}

// codeKeep is how long a code's record is kept after it is issued.
const codeKeep = 10 * time.Minute

// fresh reports whether sess is a recent enough sign-in for req:
// prompt=login wants one made after the request, max_age one at most
// that old (OIDC Core §3.1.2.1).
func (p *Provider) fresh(req *authRequest, sess *auth.Session) bool {
	if !sess.CreatedAt.Before(req.CreatedAt) {
		return true // signed in for this very request
	}
	if strings.Contains(" "+req.Prompt+" ", " login ") {
		return false
	}
	return req.MaxAge < 0 || p.clock.Now().Sub(sess.CreatedAt) <= time.Duration(req.MaxAge)*time.Second
}

// toLogin sends the person to Latch's /login, which brings them back to
// the resume endpoint once signed in. anew makes /login sign in again
// even though a session exists.
func (p *Provider) toLogin(w http.ResponseWriter, r *http.Request, id string, req *authRequest, anew bool) {
	v := url.Values{"redirect_to": {pathResume + "?request=" + id}}
	if req.LoginHint != "" {
		v.Set("login_hint", req.LoginHint)
	}
	if req.UILocales != "" {
		v.Set("ui_locales", req.UILocales)
	}
	if anew {
		v.Set("prompt", "login")
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/login?"+v.Encode(), http.StatusFound)
}

func (p *Provider) serverErrorRedirect(w http.ResponseWriter, r *http.Request, req *authRequest, err error) {
	p.log.ErrorContext(r.Context(), "oidc: authorization failed", "clientId", req.ClientID, "err", err)
	code := "server_error"
	if errors.Is(err, kv.ErrUnavailable) || auth.ErrorCode(err) == auth.CodeUnavailable {
		code = "temporarily_unavailable"
	}
	p.redirectError(w, r, req.RedirectURI, req.State, code, "The sign-in service could not complete the request.")
}

// needsConsent: a client marked consent asks once per person (and again
// on prompt=consent); others never ask.
func (p *Provider) needsConsent(r *http.Request, c *Client, req *authRequest, uid string) (bool, error) {
	if req.Consented {
		return false, nil
	}
	if strings.Contains(" "+req.Prompt+" ", " consent ") {
		return true, nil
	}
	if !c.Consent {
		return false, nil
	}
	_, err := p.store.Get(r.Context(), consentKey(uid, c.ID), p.clock.Now())
	if errors.Is(err, kv.ErrNotFound) {
		return true, nil
	}
	return false, err
}

func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request, id string, req *authRequest, c *Client, email string) {
	name := c.Name
	if name == "" {
		name = c.ID
	}
	l := p.locale(r, req.UILocales)
	p.renderPage(w, r, http.StatusOK, l, page{
		Title:   l.T("oidc.consent_title", "client", name),
		Message: l.T("oidc.consent", "client", name, "email", email),
		Form:    pathConsent, Fields: map[string]string{"request": id}, Yes: l.T("link.continue"), No: l.T("oidc.cancel"),
	})
}

// handleConsent records the person's answer on the consent page. The
// cross-origin protection of every POST keeps other sites from answering.
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, "oidc.bad_form")
		return
	}
	id := r.PostForm.Get("request")
	req, err := p.request(r, id)
	if err != nil {
		p.errorPage(w, r, "oidc.too_late")
		return
	}
	sess, err := p.session(r)
	if err != nil || sess == nil {
		p.resume(w, r, id, req)
		return
	}
	now := p.clock.Now()
	if r.PostForm.Get("decision") != "allow" {
		p.store.Delete(r.Context(), requestKey(id))
		p.redirectError(w, r, req.RedirectURI, req.State, "access_denied", "The person declined.")
		return
	}
	if err := p.store.Put(r.Context(), consentKey(sess.UserID, req.ClientID), encodeConsent(&consent{Scope: req.Scope, GrantedAt: now}), time.Time{}, now); err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	}
	req.Consented = true
	if err := p.store.Put(r.Context(), requestKey(id), encodeRequest(req), req.CreatedAt.Add(p.cfg.RequestTTL), now); err != nil {
		p.serverErrorRedirect(w, r, req, err)
		return
	}
	p.resume(w, r, id, req)
}
