package oidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/clientauth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/token"
)

// maxFormBody caps token, revocation and userinfo request bodies.
const maxFormBody = 16 << 10

// handleToken is the token endpoint shared with the provider API: the
// authorization_code and refresh_token grants are the provider's,
// client_credentials goes on to Config.ClientCredentials.
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Pragma", "no-cache")
	if err := parseTokenForm(w, r); err != nil {
		p.writeOAuthError(w, r, err)
		return
	}
	var err error
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
		if p.cfg.ClientCredentials == nil {
			err = oerr(http.StatusBadRequest, "unsupported_grant_type", "grant_type=client_credentials is not enabled on this server.")
			break
		}
		p.cfg.ClientCredentials.ServeHTTP(w, r)
		return
	case "authorization_code":
		err = p.exchangeCode(w, r)
	case "refresh_token":
		err = p.refresh(w, r)
	case "":
		err = oerr(http.StatusBadRequest, "invalid_request", "grant_type is required.")
	default:
		err = oerr(http.StatusBadRequest, "unsupported_grant_type", "Supported grant types: authorization_code, refresh_token, client_credentials.")
	}
	if err != nil {
		p.writeOAuthError(w, r, err)
	}
}

func parseTokenForm(w http.ResponseWriter, r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return oerr(http.StatusBadRequest, "invalid_request", "Send the request as application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return oerr(http.StatusBadRequest, "invalid_request", "The form could not be read.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return oerr(http.StatusBadRequest, "invalid_request", "The parameter "+k+" is repeated.")
		}
	}
	return nil
}

// authenticateClient finds the client of a token or revocation request:
// HTTP Basic (client_secret_basic), client_secret in the form
// (client_secret_post), or for a public client its client_id alone.
func (p *Provider) authenticateClient(r *http.Request) (*Client, error) {
	id, secret, bad := clientauth.FromRequest(r)
	if bad != nil {
		return nil, oerr(http.StatusBadRequest, "invalid_request", bad.Description)
	}
	refused := oerr(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
	c := p.clients.Client(id)
	switch {
	case id == "":
		return nil, oerr(http.StatusUnauthorized, "invalid_client", "client_id is required.")
	case c == nil:
		return nil, refused
	case c.Public:
		if secret != "" {
			return nil, refused
		}
		return c, nil
	case !c.Authenticate(secret):
		p.log.InfoContext(r.Context(), "oidc: client authentication failed", "clientId", clientauth.LogID(id))
		return nil, refused
	}
	return c, nil
}

var errInvalidGrant = oerr(http.StatusBadRequest, "invalid_grant", "The code is unknown, expired, already used, or was issued to another client or redirect URI.")

// exchangeCode redeems an authorization code (RFC 6749 §4.1.3, PKCE
// RFC 7636 §4.6). A code is used once: the exchange marks it used in one
// atomic step, and a second exchange revokes the refresh-token family
// the first one started.
func (p *Provider) exchangeCode(w http.ResponseWriter, r *http.Request) error {
	client, err := p.authenticateClient(r)
	if err != nil {
		return err
	}
	code, verifier := r.PostForm.Get("code"), r.PostForm.Get("code_verifier")
	if code == "" || len(code) > 128 {
		return oerr(http.StatusBadRequest, "invalid_request", "code is required.")
	}
	now := p.clock.Now()
	familyID := randomString(18)
	var g *grant
	var reused bool
	err = p.store.Update(r.Context(), codeKey(code), now, func(cur []byte) (kv.Change, error) {
		g, reused = nil, false
		if cur == nil {
			return kv.Change{Op: kv.Keep}, nil
		}
		var err error
		if g, err = decodeGrant(cur); err != nil {
			return kv.Change{}, err
		}
		if !g.UsedAt.IsZero() {
			reused = true
			return kv.Change{Op: kv.Keep}, nil
		}
		if !now.Before(g.ExpiresAt) || g.ClientID != client.ID {
			return kv.Change{Op: kv.Keep}, nil
		}
		g.UsedAt, g.FamilyID = now, familyID
		return kv.Change{Op: kv.Write, Value: encodeGrant(g), Expires: now.Add(codeKeep)}, nil
	})
	if err != nil {
		return err
	}
	switch {
	case g == nil:
		return errInvalidGrant
	case reused:
		p.log.WarnContext(r.Context(), "oidc: an authorization code was used twice; what its first use issued is revoked", "clientId", g.ClientID)
		if g.FamilyID != "" {
			if err := p.revokeFamily(r, g.FamilyID); err != nil {
				return err
			}
		}
		return errInvalidGrant
	case g.UsedAt.IsZero() || g.ClientID != client.ID:
		return errInvalidGrant
	}
	// Past this point the code is spent: a wrong redirect URI or verifier
	// leaves it used (a guess gets one try).
	if r.PostForm.Get("redirect_uri") != g.RedirectURI {
		return oerr(http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request.")
	}
	if g.CodeChallenge != "" || verifier != "" {
		if !pkceMatches(g.CodeChallenge, verifier) {
			return oerr(http.StatusBadRequest, "invalid_grant", "The code_verifier does not match the code_challenge.")
		}
	}
	user, err := p.liveUser(r, g.UserID, g.AuthTime)
	if err != nil {
		return err
	}
	f := &family{
		ClientID: client.ID, UserID: g.UserID, SessionID: g.SessionID, Scope: g.Scope,
		AuthTime: g.AuthTime, CreatedAt: now, ExpiresAt: now.Add(p.cfg.RefreshLifetime),
	}
	var refreshToken string
	if hasScope(g.Scope, "offline_access") {
		secret := randomString(32)
		f.SecretHash, f.Generation = hashString(secret), 1
		if err := p.store.Put(r.Context(), familyKey(familyID), encodeFamily(f), f.ExpiresAt, now); err != nil {
			return err
		}
		refreshToken = familyID + "." + secret
	}
	return p.respond(w, r, client, user, f, g.Nonce, refreshToken)
}

// pkceMatches: BASE64URL(SHA256(verifier)) == challenge (RFC 7636 §4.6).
func pkceMatches(challenge, verifier string) bool {
	if challenge == "" || len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// liveUser returns the user a grant is for, refusing one who is disabled
// or who signed out everywhere after signedIn.
func (p *Provider) liveUser(r *http.Request, uid string, signedIn time.Time) (*auth.User, error) {
	u, err := p.sessions.User(r.Context(), uid)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", "The account no longer exists.")
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled || (!u.SignedOutAt.IsZero() && !signedIn.After(u.SignedOutAt)) {
		return nil, oerr(http.StatusBadRequest, "invalid_grant", "The account was signed out everywhere or disabled.")
	}
	return u, nil
}

// respond mints the ID token and access token of a grant and answers
// the token request, with refreshToken when there is one.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, client *Client, user *auth.User, f *family, nonce, refreshToken string) error {
	ctx := r.Context()
	access, exp, err := p.tokens.MintAccess(ctx, token.AccessRequest{
		UserID: user.ID, Email: user.Email, SessionID: f.SessionID,
		Extra: map[string]any{"client_id": client.ID, "azp": client.ID, "scope": f.Scope},
	})
	if err != nil {
		return err
	}
	claims := map[string]any{
		"sub": user.ID, "aud": client.ID, "azp": client.ID, "auth_time": f.AuthTime.Unix(), "sid": f.SessionID,
		"at_hash": atHash(access),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	for k, v := range userClaims(user, f.Scope) {
		claims[k] = v
	}
	idToken, _, err := p.tokens.Mint(ctx, token.TypeID, claims, p.cfg.IDTokenTTL)
	if err != nil {
		return err
	}
	body := map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": max(1, int(exp.Sub(p.clock.Now()).Seconds())),
		"id_token": idToken, "scope": f.Scope,
	}
	if refreshToken != "" {
		body["refresh_token"] = refreshToken
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// userClaims are the claims about the person the scope asks for.
func userClaims(u *auth.User, scope string) map[string]any {
	c := map[string]any{}
	if hasScope(scope, "email") || hasScope(scope, "profile") {
		c["email"], c["email_verified"] = u.Email, true
	}
	if hasScope(scope, "groups") && len(u.Groups) > 0 {
		c["groups"] = u.Groups
	}
	return c
}

// atHash is the at_hash of an RS256 or ES256 ID token (OIDC Core §3.1.3.6).
func atHash(access string) string {
	sum := sha256.Sum256([]byte(access))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func splitRefresh(raw string) (familyID, secret string, ok bool) {
	familyID, secret, ok = strings.Cut(raw, ".")
	return familyID, secret, ok && familyID != "" && secret != "" && len(raw) <= 128
}

// refresh rotates a refresh token (RFC 6749 §6, OAuth 2.0 Security BCP
// §4.14): the token presented is retired and a new one handed out; a
// retired one presented again revokes the whole family.
func (p *Provider) refresh(w http.ResponseWriter, r *http.Request) error {
	client, err := p.authenticateClient(r)
	if err != nil {
		return err
	}
	familyID, secret, ok := splitRefresh(r.PostForm.Get("refresh_token"))
	if !ok {
		return oerr(http.StatusBadRequest, "invalid_grant", "The refresh token is not valid.")
	}
	now := p.clock.Now()
	fresh := randomString(32)
	var f *family
	var reused bool
	err = p.store.Update(r.Context(), familyKey(familyID), now, func(cur []byte) (kv.Change, error) {
		f, reused = nil, false
		if cur == nil {
			return kv.Change{Op: kv.Keep}, nil
		}
		var err error
		if f, err = decodeFamily(cur); err != nil {
			return kv.Change{}, err
		}
		if !f.RevokedAt.IsZero() || f.ClientID != client.ID {
			return kv.Change{Op: kv.Keep}, nil
		}
		if subtle.ConstantTimeCompare([]byte(hashString(secret)), []byte(f.SecretHash)) != 1 {
			reused = true
			f.RevokedAt = now
			return kv.Change{Op: kv.Write, Value: encodeFamily(f), Expires: f.ExpiresAt}, nil
		}
		f.SecretHash = hashString(fresh)
		f.Generation++
		return kv.Change{Op: kv.Write, Value: encodeFamily(f), Expires: f.ExpiresAt}, nil
	})
	if err != nil {
		return err
	}
	if reused {
		p.log.WarnContext(r.Context(), "oidc: a rotated refresh token was presented again; its family is revoked", "clientId", client.ID)
	}
	if f == nil || reused || !f.RevokedAt.IsZero() || f.ClientID != client.ID {
		return oerr(http.StatusBadRequest, "invalid_grant", "The refresh token is not valid (unknown, expired, revoked or already used).")
	}
	user, err := p.liveUser(r, f.UserID, f.CreatedAt)
	if err != nil {
		p.revokeFamily(r, familyID)
		return err
	}
	// A narrower scope may be asked for (RFC 6749 §6), never a wider one.
	if s := r.PostForm.Get("scope"); s != "" {
		for _, v := range strings.Fields(s) {
			if !hasScope(f.Scope, v) {
				return oerr(http.StatusBadRequest, "invalid_scope", "A refresh cannot widen the scope.")
			}
		}
	}
	return p.respond(w, r, client, user, f, "", familyID+"."+fresh)
}

// revokeFamily ends a refresh-token family for good.
func (p *Provider) revokeFamily(r *http.Request, familyID string) error {
	now := p.clock.Now()
	return p.store.Update(r.Context(), familyKey(familyID), now, func(cur []byte) (kv.Change, error) {
		if cur == nil {
			return kv.Change{Op: kv.Keep}, nil
		}
		f, err := decodeFamily(cur)
		if err != nil {
			return kv.Change{}, err
		}
		if !f.RevokedAt.IsZero() {
			return kv.Change{Op: kv.Keep}, nil
		}
		f.RevokedAt = now
		return kv.Change{Op: kv.Write, Value: encodeFamily(f), Expires: f.ExpiresAt}, nil
	})
}

// handleRevoke is token revocation (RFC 7009): a refresh token ends its
// family; an access token (a JWT, short-lived) is accepted and left to
// expire. The answer is 200 whatever the token was.
func (p *Provider) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := parseTokenForm(w, r); err != nil {
		p.writeOAuthError(w, r, err)
		return
	}
	client, err := p.authenticateClient(r)
	if err != nil {
		p.writeOAuthError(w, r, err)
		return
	}
	raw := r.PostForm.Get("token")
	if raw == "" {
		p.writeOAuthError(w, r, oerr(http.StatusBadRequest, "invalid_request", "token is required."))
		return
	}
	if familyID, _, ok := splitRefresh(raw); ok && r.PostForm.Get("token_type_hint") != "access_token" {
		rec, err := p.store.Get(r.Context(), familyKey(familyID), p.clock.Now())
		if err == nil {
			if f, derr := decodeFamily(rec); derr == nil && f.ClientID == client.ID {
				err = p.revokeFamily(r, familyID)
			}
		}
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			p.writeOAuthError(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
