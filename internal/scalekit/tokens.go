package scalekit

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// clients holds the API clients allowed to obtain tokens. Only a keyed
// hash of each secret is kept, and every comparison takes the same time
// whether or not the id is known.
type clients struct {
	key    []byte            // hashes secrets
	hashes map[string][]byte // client id → keyed hash of its secret
	// registry holds more clients (CLIENTS_FILE), asked when hashes
	// does not know the id; nil for none.
	registry ClientRegistry
}

// MinClientSecretLength is the shortest API client secret accepted.
const MinClientSecretLength = 16

// parseClients reads "id:secret" pairs.
func parseClients(pairs []string, key []byte) (*clients, error) {
	c := &clients{key: key, hashes: make(map[string][]byte, len(pairs))}
	for i, pair := range pairs {
		id, secret, ok := strings.Cut(pair, ":")
		if !ok || id == "" || len(secret) < MinClientSecretLength {
			return nil, fmt.Errorf("API client %d: want id:secret with a secret of at least %d characters", i+1, MinClientSecretLength)
		}
		if _, dup := c.hashes[id]; dup {
			return nil, fmt.Errorf("API client %q is listed twice", id)
		}
		c.hashes[id] = c.hash(secret)
	}
	return c, nil
}

func (c *clients) hash(secret string) []byte { return auth.MAC(c.key, "client secret", secret) }

// authenticate reports whether secret is the secret of client id, in
// constant time.
func (c *clients) authenticate(id, secret string) bool {
	want, known := c.hashes[id]
	if !known && c.registry != nil && c.registry.KnowsAPI(id) {
		return c.registry.AuthenticateAPI(id, secret)
	}
	if !known {
		want = c.hash("") // compare anyway, so timing does not reveal ids
	}
	ok := subtle.ConstantTimeCompare(want, c.hash(secret)) == 1
	return ok && known
}

func (c *clients) known(id string) bool {
	if _, ok := c.hashes[id]; ok {
		return true
	}
	return c.registry != nil && c.registry.KnowsAPI(id)
}

// tokens issues and checks stateless bearer tokens: an HMAC-SHA256 over
// the client id and expiry, under a random key kept sealed in the store,
// so any replica accepts any replica's token, nothing per token is stored,
// and a guessed SESSION_SECRET forges nothing.
//
// Format: "lpt1." base64url(expiry as 8 bytes big-endian ‖ client id) "." base64url(MAC).
type tokens struct {
	key func(ctx context.Context) ([]byte, error)
	ttl time.Duration
}

// errTokenKey means the signing key could not be read (the store is down).
var errTokenKey = errors.New("token key unavailable")

const tokenPrefix = "lpt1."

// errBadToken is the one answer for every kind of unacceptable token, so
// a caller learns nothing about which check failed.
var errBadToken = errors.New("invalid token")

func (t *tokens) issue(ctx context.Context, clientID string, now time.Time) (string, time.Time, error) {
	key, err := t.key(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", errTokenKey, err)
	}
	exp := now.Add(t.ttl).Truncate(time.Second)
	payload := make([]byte, 8, 8+len(clientID))
	binary.BigEndian.PutUint64(payload, uint64(exp.Unix()))
	payload = append(payload, clientID...)
	sig := auth.MAC(key, "bearer token", string(payload))
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig), exp, nil
}

// check returns the client id of a live token.
func (t *tokens) check(ctx context.Context, token string, now time.Time) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > 512 {
		return "", errBadToken
	}
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok {
		return "", errBadToken
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p64)
	sig, err2 := enc.DecodeString(s64)
	if err1 != nil || err2 != nil || len(payload) < 9 {
		return "", errBadToken
	}
	key, err := t.key(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errTokenKey, err)
	}
	if !hmac.Equal(sig, auth.MAC(key, "bearer token", string(payload))) {
		return "", errBadToken
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[:8])), 0)
	if !now.Before(exp) {
		return "", errBadToken
	}
	return string(payload[8:]), nil
}
