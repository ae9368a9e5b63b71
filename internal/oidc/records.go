package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// The provider's record kinds and where they live in the kv.Store:
//
//	oidcreq:<id>                 a pending authorization request  requestCodec, 10 minutes
//	oidccode:<hash>              an authorization code            codeCodec, codeKeep
//	oidcrt:<familyID>            a refresh-token family           familyCodec, until the family ends
//	oidcconsent:<user>:<client>  a person's consent to a client   consentCodec, forever
//
// hash is the SHA-256 of the code (base64url): a code is 256 random bits,
// so a plain hash is enough, and the key never holds the code itself.
// Refresh tokens are "<familyID>.<secret>"; only the secret's hash is kept.

func requestKey(id string) string       { return "oidcreq:" + id }
func codeKey(code string) string        { return "oidccode:" + hashString(code) }
func familyKey(id string) string        { return "oidcrt:" + id }
func consentKey(uid, cid string) string { return "oidcconsent:" + uid + ":" + cid }

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authRequest is an authorization request waiting for its sign-in.
type authRequest struct {
	ClientID      string
	RedirectURI   string
	Scope         string
	State         string
	Nonce         string
	CodeChallenge string // S256 only
	Prompt        string // none, login, consent (space-separated as sent)
	MaxAge        int64  // seconds; -1 when not asked
	LoginHint     string
	UILocales     string
	CreatedAt     time.Time
	// Consented is set when the person said yes on the consent page.
	Consented bool
}

const requestV1 = 1

func encodeRequest(q *authRequest) []byte {
	return kv.NewWriter(requestV1).
		String(q.ClientID).String(q.RedirectURI).String(q.Scope).String(q.State).String(q.Nonce).
		String(q.CodeChallenge).String(q.Prompt).Int(q.MaxAge).String(q.LoginHint).String(q.UILocales).
		Time(q.CreatedAt).Bool(q.Consented).
		Bytes()
}

func decodeRequest(rec []byte) (*authRequest, error) {
	r, v := kv.NewReader(rec)
	if v != requestV1 {
		return nil, unknownVersion("authorization request", v)
	}
	q := &authRequest{}
	q.ClientID, q.RedirectURI, q.Scope, q.State, q.Nonce = r.String(), r.String(), r.String(), r.String(), r.String()
	q.CodeChallenge, q.Prompt, q.MaxAge, q.LoginHint, q.UILocales = r.String(), r.String(), r.Int(), r.String(), r.String()
	q.CreatedAt, q.Consented = r.Time(), r.Bool()
	if err := r.Err("authorization request"); err != nil {
		return nil, err
	}
	return q, nil
}

// grant is what an authorization code stands for.
type grant struct {
	ClientID      string
	RedirectURI   string
	UserID        string
	SessionID     string
	Scope         string
	Nonce         string
	CodeChallenge string
	AuthTime      time.Time
	ExpiresAt     time.Time
	// UsedAt is when the code was exchanged; FamilyID the refresh-token
	// family that exchange started (revoked when the code comes again).
	UsedAt   time.Time
	FamilyID string
}

const codeV1 = 1

func encodeGrant(g *grant) []byte {
	return kv.NewWriter(codeV1).
		String(g.ClientID).String(g.RedirectURI).String(g.UserID).String(g.SessionID).String(g.Scope).
		String(g.Nonce).String(g.CodeChallenge).Time(g.AuthTime).Time(g.ExpiresAt).Time(g.UsedAt).String(g.FamilyID).
		Bytes()
}

func decodeGrant(rec []byte) (*grant, error) {
	r, v := kv.NewReader(rec)
	if v != codeV1 {
		return nil, unknownVersion("authorization code", v)
	}
	g := &grant{}
	g.ClientID, g.RedirectURI, g.UserID, g.SessionID, g.Scope = r.String(), r.String(), r.String(), r.String(), r.String()
	g.Nonce, g.CodeChallenge = r.String(), r.String()
	g.AuthTime, g.ExpiresAt, g.UsedAt = r.Time(), r.Time(), r.Time()
	g.FamilyID = r.String()
	if err := r.Err("authorization code"); err != nil {
		return nil, err
	}
	return g, nil
}

// family is one chain of refresh tokens: each use hands out the next and
// retires the one presented; a retired one presented again ends the chain.
type family struct {
	ClientID   string
	UserID     string
	SessionID  string
	Scope      string
	AuthTime   time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
	SecretHash string // of the one live refresh token
	Generation int64
	RevokedAt  time.Time
}

const familyV1 = 1

func encodeFamily(f *family) []byte {
	return kv.NewWriter(familyV1).
		String(f.ClientID).String(f.UserID).String(f.SessionID).String(f.Scope).
		Time(f.AuthTime).Time(f.CreatedAt).Time(f.ExpiresAt).String(f.SecretHash).Int(f.Generation).Time(f.RevokedAt).
		Bytes()
}

func decodeFamily(rec []byte) (*family, error) {
	r, v := kv.NewReader(rec)
	if v != familyV1 {
		return nil, unknownVersion("refresh-token family", v)
	}
	f := &family{}
	f.ClientID, f.UserID, f.SessionID, f.Scope = r.String(), r.String(), r.String(), r.String()
	f.AuthTime, f.CreatedAt, f.ExpiresAt = r.Time(), r.Time(), r.Time()
	f.SecretHash, f.Generation, f.RevokedAt = r.String(), r.Int(), r.Time()
	if err := r.Err("refresh-token family"); err != nil {
		return nil, err
	}
	return f, nil
}

// consent is a person's yes to a client, for the scopes named.
type consent struct {
	Scope     string
	GrantedAt time.Time
}

const consentV1 = 1

func encodeConsent(c *consent) []byte {
	return kv.NewWriter(consentV1).String(c.Scope).Time(c.GrantedAt).Bytes()
}

func decodeConsent(rec []byte) (*consent, error) {
	r, v := kv.NewReader(rec)
	if v != consentV1 {
		return nil, unknownVersion("consent", v)
	}
	c := &consent{Scope: r.String(), GrantedAt: r.Time()}
	if err := r.Err("consent"); err != nil {
		return nil, err
	}
	return c, nil
}

func unknownVersion(kind string, v byte) error {
	return fmt.Errorf("oidc: %s record has encoding version %d, which this release does not know: %w", kind, v, kv.ErrCorrupt)
}
