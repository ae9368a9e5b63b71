package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/auth"
)

// takeScript counts one event in a window's counter and makes the counter
// expire with its window. KEYS[1] counter; ARGV[1] TTL in milliseconds.
var takeScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// Take counts one event under key in the fixed window holding now, in one
// script. Every window has its own counter, named by its start.
func (s *Store) Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (auth.Decision, error) {
	start := auth.WindowStart(now, window)
	life := ttl(start.Add(window), now)
	reply, err := takeScript.Run(ctx, s.client, []string{s.counterKey(key, start)}, life.Milliseconds()).Result()
	if err != nil {
		return auth.Decision{}, fail("take", err)
	}
	n, ok := reply.(int64)
	if !ok {
		return auth.Decision{}, fmt.Errorf("redisstore: take: unexpected reply %T", reply)
	}
	return auth.NewDecision(int(n), limit, window, now), nil
}

// Peek reports the count under key in the window holding now, in one GET.
func (s *Store) Peek(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (auth.Decision, error) {
	v, err := s.client.Get(ctx, s.counterKey(key, auth.WindowStart(now, window))).Result()
	if errors.Is(err, redis.Nil) {
		return auth.PeekDecision(0, limit, window, now), nil
	}
	if err != nil {
		return auth.Decision{}, fail("peek", err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return auth.Decision{}, fmt.Errorf("redisstore: peek: counter: %w", err)
	}
	return auth.PeekDecision(n, limit, window, now), nil
}
