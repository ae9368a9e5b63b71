package scalekit

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/bearer"
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

// tokenPrefix starts the provider API's bearer tokens (package bearer).
const tokenPrefix = "lpt1."

// newTokens is the provider API's kind of bearer token.
func newTokens(key func(ctx context.Context) ([]byte, error), ttl time.Duration) *bearer.Tokens {
	return &bearer.Tokens{Prefix: tokenPrefix, Purpose: "bearer token", Key: key, TTL: ttl}
}
