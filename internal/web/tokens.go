package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/token"
)

// Tokens signs access tokens and publishes the keys that verify them;
// *token.Issuer implements it. VerifyAccess wraps token.ErrInvalid into
// every refusal; its other errors are the store's.
type Tokens interface {
	JWKS(ctx context.Context) ([]byte, error)
	MintAccess(ctx context.Context, req token.AccessRequest) (string, time.Time, error)
	VerifyAccess(ctx context.Context, raw string) (*token.Access, error)
}

// jwksMaxAge is how long clients may cache the key set. A next key is
// published token.Config.PublishAhead (10 minutes) before it signs, more
// than this, so a cached set always holds the key of a fresh token.
const jwksMaxAge = "public, max-age=300"

// handleJWKS serves GET /.well-known/jwks.json and GET /keys.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	b, err := s.tokens.JWKS(r.Context())
	if err != nil {
		s.writeError(w, r, tokenError(err))
		return
	}
	w.Header().Set("Cache-Control", jwksMaxAge)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

type tokenJSON struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int    `json:"expiresIn"`
}

// handleToken serves POST /api/auth/token: a short access token for the
// signed-in browser (by its session cookie only: a token cannot mint a
// token), for an API to verify offline.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	sess, err := s.sessions.Authenticate(r.Context(), sessionToken(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	raw, exp, err := s.tokens.MintAccess(r.Context(), token.AccessRequest{UserID: sess.UserID, Email: sess.Email, SessionID: sess.ID})
	if err != nil {
		s.writeError(w, r, tokenError(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenJSON{AccessToken: raw, TokenType: "Bearer", ExpiresIn: max(0, int(exp.Sub(s.clock.Now()).Round(time.Second)/time.Second))})
}

// requestSession is the session a request acts for: by its bearer access
// token when it has an Authorization header, else by its session cookie.
// A token whose session has ended is refused, although its signature
// would verify until exp.
func (s *Server) requestSession(w http.ResponseWriter, r *http.Request) (*auth.Session, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return s.sessions.Authenticate(r.Context(), sessionToken(r))
	}
	scheme, raw, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" || s.tokens == nil {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		return nil, auth.Errorf(auth.CodeUnauthorized, "You are not signed in.")
	}
	a, err := s.tokens.VerifyAccess(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		if errors.Is(err, token.ErrInvalid) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			return nil, auth.Errorf(auth.CodeUnauthorized, "The access token is not valid.")
		}
		return nil, tokenError(err)
	}
	var sess *auth.Session
	err = auth.Errorf(auth.CodeUnauthorized, "You are not signed in.")
	if a.SessionID != "" {
		sess, err = s.sessions.SessionByID(r.Context(), a.SessionID)
	}
	if err == nil && sess.UserID != a.Subject {
		sess, err = nil, auth.Errorf(auth.CodeUnauthorized, "You are not signed in.")
	}
	if auth.ErrorCode(err) == auth.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the session has ended"`)
	}
	return sess, err
}

// tokenError turns a failure of the issuer into the contract's errors.
func tokenError(err error) error {
	if errors.Is(err, kv.ErrUnavailable) {
		return auth.Unavailable("token keys", err)
	}
	return err
}
