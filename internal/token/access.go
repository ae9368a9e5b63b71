package token

import (
	"context"
	"fmt"
	"time"
)

// AccessRequest is what an access token says: who, which session, for
// which API.
type AccessRequest struct {
	UserID    string
	Email     string
	SessionID string
	Audience  string        // default Config.Audience (JWT_AUDIENCE)
	TTL       time.Duration // default Config.AccessTTL (JWT_TTL)
	// Extra claims (scope, azp, client_id, …) for the OpenID provider;
	// they never replace the ones above.
	Extra map[string]any
}

// Access is a verified access token.
type Access struct {
	Claims
	Email         string
	EmailVerified bool
	SessionID     string // sid; empty when the token names no session
}

// MintAccess signs an access token (typ at+jwt, RFC 9068) and returns it
// with its expiry.
func (i *Issuer) MintAccess(ctx context.Context, req AccessRequest) (string, time.Time, error) {
	if req.UserID == "" {
		return "", time.Time{}, fmt.Errorf("token: an access token needs a subject")
	}
	if req.Audience == "" {
		req.Audience = i.cfg.Audience
	}
	if req.TTL == 0 {
		req.TTL = i.cfg.AccessTTL
	}
	c := make(map[string]any, len(req.Extra)+6)
	for k, v := range req.Extra {
		c[k] = v
	}
	c["sub"] = req.UserID
	c["aud"] = req.Audience
	c["email"] = req.Email
	c["email_verified"] = true
	if req.SessionID != "" {
		c["sid"] = req.SessionID
	}
	return i.Mint(ctx, TypeAccess, c, req.TTL)
}

// VerifyAccess is the one entry point for anything in Latch that accepts
// an access token (GET /api/me, forward-auth): a token of type at+jwt,
// signed by a published key, from this issuer, for Config.Audience, not
// expired. It does not check that the session is still live: callers
// that answer for a session (SessionID) look it up themselves.
func (i *Issuer) VerifyAccess(ctx context.Context, raw string) (*Access, error) {
	c, err := i.Verify(ctx, raw, Expect{Audience: i.cfg.Audience, Type: TypeAccess})
	if err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	a := &Access{Claims: *c}
	a.Email, _ = c.All["email"].(string)
	a.EmailVerified, _ = c.All["email_verified"].(bool)
	a.SessionID, _ = c.All["sid"].(string)
	return a, nil
}
