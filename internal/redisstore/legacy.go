package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/auth"
)

var _ auth.LegacySource = (*Store)(nil)

// The key families of the release before this one, under the same
// prefix: challenges {c:id}, link index {t:hash}, sessions {s:id}, user
// session indexes {u:id}:s, users {e:hash}, counters {r:key}:window. They
// are read once by the engine's upgrade (auth.Upgrade) and then removed.
var legacyFamilies = []string{"{c:", "{t:", "{s:", "{u:", "{e:", "{r:"}

// scanLegacy calls fn for every key of one legacy family, on every master.
func (s *Store) scanLegacy(ctx context.Context, family string, fn func(c redis.UniversalClient, key string) error) error {
	pattern := globEscape(s.prefix+family) + "*"
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 512).Result()
			if err != nil {
				return fail("scan legacy keys", err)
			}
			for _, k := range keys {
				if err := fn(c, k); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	return forEachNode(ctx, s.client, scan)
}

// Legacy reads the previous release's records, or nil when there are none.
func (s *Store) Legacy(ctx context.Context) (*auth.LegacyData, error) {
	data := &auth.LegacyData{}
	found := false
	read := func(family string, each func(key string, rec []byte) error) error {
		return s.scanLegacy(ctx, family, func(_ redis.UniversalClient, key string) error {
			found = true
			rec, err := s.client.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				return nil
			}
			if err != nil {
				return fail("read legacy record", err)
			}
			return each(key, rec)
		})
	}
	id := func(key, family string) string {
		return strings.TrimSuffix(strings.TrimPrefix(key, s.prefix+family), "}")
	}
	err := read("{c:", func(key string, rec []byte) error {
		c, err := decodeLegacyChallenge(id(key, "{c:"), rec)
		if err != nil {
			return err
		}
		data.Challenges = append(data.Challenges, c)
		return nil
	})
	if err == nil {
		err = read("{s:", func(key string, rec []byte) error {
			sess, err := decodeLegacySession(id(key, "{s:"), rec)
			if err != nil {
				return err
			}
			data.Sessions = append(data.Sessions, sess)
			return nil
		})
	}
	if err == nil {
		err = read("{e:", func(_ string, rec []byte) error {
			u, err := decodeLegacyUser(rec)
			if err != nil {
				return err
			}
			data.Users = append(data.Users, u)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the previous release's records: %w", err)
	}
	if !found {
		// Indexes and counters alone hold nothing to carry over.
		return nil, s.DropLegacy(ctx)
	}
	return data, nil
}

// DropLegacy deletes every key of the previous release's families.
func (s *Store) DropLegacy(ctx context.Context) error {
	for _, f := range legacyFamilies {
		err := s.scanLegacy(ctx, f, func(c redis.UniversalClient, key string) error {
			if err := c.Del(ctx, key).Err(); err != nil {
				return fail("drop legacy key", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
