package forwardauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// maxCachedUsers bounds the group cache; past it, expired entries are
// swept, and if none are, the cache starts again empty.
const maxCachedUsers = 10_000

// groupCache keeps each user's groups for a few seconds, so that a page
// with many assets (one proxy question each) costs one user read, not
// one per asset. Sessions are never cached: a sign-out takes effect on
// the next request.
type groupCache struct {
	users Users
	clock auth.Clock
	ttl   time.Duration
	mu    sync.Mutex
	m     map[string]cachedGroups
}

type cachedGroups struct {
	groups []string
	until  time.Time
}

func newGroupCache(users Users, clock auth.Clock, ttl time.Duration) *groupCache {
	return &groupCache{users: users, clock: clock, ttl: ttl, m: map[string]cachedGroups{}}
}

// get returns the groups of user id. A user that no longer exists has no
// standing: unauthorized.
func (c *groupCache) get(ctx context.Context, id string) ([]string, error) {
	now := c.clock.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.groups, nil
	}
	u, err := c.users.User(ctx, id)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, auth.Errorf(auth.CodeUnauthorized, "Sign in first.")
	}
	if err != nil {
		return nil, auth.Unavailable("forward-auth: read user", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedUsers {
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedUsers {
			clear(c.m)
		}
	}
	c.m[id] = cachedGroups{groups: u.Groups, until: now.Add(c.ttl)}
	return u.Groups, nil
}
