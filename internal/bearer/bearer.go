// Package bearer issues and checks the stateless bearer tokens that API
// clients get from the client-credentials grant: an HMAC-SHA256 over the
// client id and an expiry, under a random key kept sealed in the store,
// so that any replica accepts any replica's token, nothing per token is
// stored, and a guessed SESSION_SECRET forges nothing.
//
// Each kind of token (the passwordless provider API's, the admin API's)
// has its own prefix, purpose and key, so a token of one kind is never
// accepted as another.
//
// Format: Prefix base64url(expiry as 8 bytes big-endian ‖ client id) "." base64url(MAC).
package bearer

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// ErrKey means the signing key could not be read (the store is down):
// the caller answers "unavailable", not "unauthorized".
var ErrKey = errors.New("bearer: token key unavailable")

// ErrInvalid is the one answer for every kind of unacceptable token
// (malformed, of another kind, forged, expired), so that a caller learns
// nothing about which check failed.
var ErrInvalid = errors.New("bearer: invalid token")

// MaxLength bounds a token; longer ones are refused unread.
const MaxLength = 512

// Tokens issues and checks one kind of token.
type Tokens struct {
	// Prefix starts every token of this kind ("lpt1.").
	Prefix string
	// Purpose separates the MACs of different kinds under one key.
	Purpose string
	// Key returns the MAC key (a random key of its own, sealed in the store).
	Key func(ctx context.Context) ([]byte, error)
	// TTL is how long a token lives.
	TTL time.Duration
}

// Issue returns a token for clientID that expires TTL after now (to the
// second), and that expiry.
func (t *Tokens) Issue(ctx context.Context, clientID string, now time.Time) (string, time.Time, error) {
	key, err := t.Key(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrKey, err)
	}
	exp := now.Add(t.TTL).Truncate(time.Second)
	payload := make([]byte, 8, 8+len(clientID))
	binary.BigEndian.PutUint64(payload, uint64(exp.Unix()))
	payload = append(payload, clientID...)
	sig := auth.MAC(key, t.Purpose, string(payload))
	enc := base64.RawURLEncoding
	return t.Prefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig), exp, nil
}

// Check returns the client id of a live token of this kind, ErrInvalid
// for any other token, or an error wrapping ErrKey.
func (t *Tokens) Check(ctx context.Context, token string, now time.Time) (string, error) {
	rest, ok := strings.CutPrefix(token, t.Prefix)
	if !ok || len(token) > MaxLength {
		return "", ErrInvalid
	}
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok {
		return "", ErrInvalid
	}
	// Strict: a token has one spelling (no second one that differs in
	// the unused bits of its last character).
	enc := base64.RawURLEncoding.Strict()
	payload, err1 := enc.DecodeString(p64)
	sig, err2 := enc.DecodeString(s64)
	if err1 != nil || err2 != nil || len(payload) < 9 {
		return "", ErrInvalid
	}
	key, err := t.Key(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	if !hmac.Equal(sig, auth.MAC(key, t.Purpose, string(payload))) {
		return "", ErrInvalid
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[:8])), 0)
	if !now.Before(exp) {
		return "", ErrInvalid
	}
	return string(payload[8:]), nil
}

// FromHeader returns the token of an "Authorization: Bearer …" header
// value, or "" when there is none.
func FromHeader(value string) string {
	scheme, token, _ := strings.Cut(value, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return token
}
