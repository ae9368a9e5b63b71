package oidc

import (
	"errors"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"net/http"
	"net/url"
	"strings"

	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/token"
)

// handleUserinfo answers GET and POST with a bearer access token in the
// Authorization header, or in a POST body's access_token (RFC 6750 §2.2).
func (p *Provider) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodPost {
		if err := parseTokenForm(w, r); err != nil {
			p.writeOAuthError(w, r, err)
			return
		}
		raw = r.PostForm.Get("access_token")
	}
	refuse := func(desc string) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+desc+`"`)
		writeJSON(w, http.StatusUnauthorized, oerr(http.StatusUnauthorized, "invalid_token", desc))
	}
	if strings.TrimSpace(raw) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="latch"`)
		writeJSON(w, http.StatusUnauthorized, oerr(http.StatusUnauthorized, "invalid_token", "A bearer access token is required."))
		return
	}
	at, err := p.tokens.VerifyAccess(r.Context(), strings.TrimSpace(raw))
	if errors.Is(err, token.ErrInvalid) {
		refuse("The access token is not valid.")
		return
	}
	if err != nil {
		p.writeOAuthError(w, r, err)
		return
	}
	scope, _ := at.All["scope"].(string)
	if _, isOIDC := at.All["client_id"]; !isOIDC {
		scope = "openid email" // a token from POST /api/auth/token speaks for the person's email
	}
	user, err := p.sessions.User(r.Context(), at.Subject)
	if errors.Is(err, kv.ErrNotFound) {
		refuse("The account no longer exists.")
		return
	}
	if err != nil {
		p.writeOAuthError(w, r, err)
		return
	}
	if user.Disabled || (!user.SignedOutAt.IsZero() && !at.IssuedAt.After(user.SignedOutAt)) {
		refuse("The account was signed out everywhere or disabled.")
		return
	}
	body := userClaims(user, scope)
	body["sub"] = user.ID
	writeJSON(w, http.StatusOK, body)
}

// handleLogout is RP-initiated logout 1.0: it ends this browser's
// session and sends the person to a registered post_logout_redirect_uri
// (with state), or shows that they are signed out. A GET that carries no
// valid id_token_hint asks first, so another site cannot sign people
// out by linking here.
func (p *Provider) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			p.errorPage(w, r, "oidc.bad_form")
			return
		}
	}
	get := func(k string) string {
		if v := r.PostForm.Get(k); v != "" {
			return v
		}
		return r.URL.Query().Get(k)
	}
	hint, clientID, target, state := get("id_token_hint"), get("client_id"), get("post_logout_redirect_uri"), get("state")
	hinted := false
	if hint != "" {
		aud := clientID
		if aud == "" {
			aud = unverifiedAudience(hint)
		}
		if _, err := p.tokens.Verify(r.Context(), hint, token.Expect{Audience: aud, Type: token.TypeID}); err == nil {
			hinted, clientID = true, aud
		} else if clientID == "" {
			// An expired hint still names its client (RP-Initiated
			// Logout §2 lets the OP accept one); it proves nothing.
			clientID = aud
		}
	}
	if target != "" {
		c := p.clients.Client(clientID)
		if c == nil || !c.PostLogoutAllowed(target) {
			p.errorPage(w, r, "oidc.unregistered_logout_redirect")
			return
		}
	}
	if r.Method == http.MethodGet && !hinted {
		fields := map[string]string{}
		for k, v := range map[string]string{"client_id": clientID, "post_logout_redirect_uri": target, "state": state} {
			if v != "" {
				fields[k] = v
			}
		}
		l := p.locale(r, "")
		p.renderPage(w, r, http.StatusOK, l, page{Title: l.T("oidc.sign_out_title"), Message: l.T("oidc.sign_out_question"), Form: pathLogout, Fields: fields, Yes: l.T("account.sign_out")})
		return
	}
	if r.Method == http.MethodPost && r.PostForm.Get("decision") == "deny" {
		target = ""
	} else if sess, err := p.session(r); err == nil && sess != nil {
		if err := p.sessions.EndSession(r.Context(), sess); err != nil {
			p.log.ErrorContext(r.Context(), "oidc: end session at logout", "err", err)
		}
	}
	p.clearSessionCookie(w)
	if target == "" {
		l := p.locale(r, "")
		p.renderPage(w, r, http.StatusOK, l, page{Title: l.T("oidc.signed_out_title"), Message: l.T("msg.signed_out")})
		return
	}
	u, _ := url.Parse(target)
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// unverifiedAudience reads the first aud of a JWT without checking it:
// only to know which client a logout hint names, before Verify checks it.
func unverifiedAudience(raw string) string {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return ""
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || len(c.Audience) == 0 {
		return ""
	}
	return c.Audience[0]
}
