package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/auth"
)

// indexSessionScript adds a session to its user's index, drops entries
// whose sessions have reached their absolute expiry, and keeps the index
// until the latest expiry it holds.
// KEYS[1] user's session index; ARGV[1] session ID; ARGV[2] its absolute
// expiry; ARGV[3] now (microseconds).
var indexSessionScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local ms = math.ceil((tonumber(last[2]) - tonumber(ARGV[3])) / 1000)
redis.call('PEXPIRE', KEYS[1], math.max(ms, 1))
return 1
`)

// touchScript records use of a live session and moves its TTL to the new
// idle deadline, which never passes the absolute expiry.
// KEYS[1] session; ARGV[1] lastSeen (microseconds).
// Returns 0 when there is no live session, else 1.
var touchScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then return 0 end
local version, last, expires, idle = struct.unpack('>Bi8i8i8', rec)
if version ~= 1 then return redis.error_reply('unknown session record version') end
local function deadline(seen)
  if idle > 0 and seen + idle < expires then return seen + idle end
  return expires
end
local seen = tonumber(ARGV[1])
if seen >= deadline(last) then return 0 end
if seen > last then
  redis.call('SETRANGE', KEYS[1], 1, struct.pack('>i8', seen))
  local ms = math.ceil((deadline(seen) - seen) / 1000)
  redis.call('PEXPIRE', KEYS[1], math.max(ms, 1))
end
return 1
`)

// ensureUserScript stores a user unless the address has one, and returns
// the one stored. KEYS[1] user; ARGV[1] candidate record.
var ensureUserScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if rec then return rec end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// CreateSession stores sess until its deadline and adds it to its user's
// index, in one round trip.
func (s *Store) CreateSession(ctx context.Context, sess *auth.Session) error {
	const op = "create session"
	now := creationTime(sess.CreatedAt)
	keys := []string{s.userSessionsKey(sess.UserID)}
	args := []any{sess.ID, micros(sess.ExpiresAt), micros(now)}
	var set *redis.StatusCmd
	var index *redis.Cmd
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, s.sessionKey(sess.ID), encodeSession(sess), ttl(sess.Deadline(), now))
		index = indexSessionScript.EvalSha(ctx, p, keys, args...)
		return nil
	})
	if err := set.Err(); err != nil {
		return fail(op, err)
	}
	if isNoScript(index.Err()) {
		index = indexSessionScript.Eval(ctx, s.client, keys, args...)
	}
	if err := index.Err(); err != nil {
		return fail(op, err)
	}
	return nil
}

// Session returns the live session id in one GET.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (*auth.Session, error) {
	const op = "get session"
	rec, err := s.client.Get(ctx, s.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, auth.ErrNotFound
	}
	if err != nil {
		return nil, fail(op, err)
	}
	sess, err := decodeSession(id, rec)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if !sess.Live(now) {
		return nil, auth.ErrNotFound
	}
	return sess, nil
}

// TouchSession records use of session id at lastSeen in one script.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	const op = "touch session"
	reply, err := touchScript.Run(ctx, s.client, []string{s.sessionKey(id)}, micros(lastSeen)).Result()
	if err != nil {
		return fail(op, err)
	}
	switch reply {
	case int64(0):
		return auth.ErrNotFound
	case int64(1):
		return nil
	}
	return fmt.Errorf("redisstore: %s: unexpected reply %v", op, reply)
}

// DeleteSession removes session id (GETDEL), then its index entry.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	const op = "delete session"
	rec, err := s.client.GetDel(ctx, s.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fail(op, err)
	}
	sess, err := decodeSession(id, rec)
	if err != nil {
		return nil // the session is gone; a corrupt record has no index entry to find
	}
	// Best effort: the session is gone, which is what counts. A stale
	// entry is pruned at its expiry and ignored by DeleteUserSessions.
	_ = s.client.ZRem(ctx, s.userSessionsKey(sess.UserID), id).Err()
	return nil
}

// DeleteUserSessions reads userID's index, then deletes the sessions it
// names and just those entries in one pipeline, and counts the sessions
// that existed. A session created meanwhile keeps its entry; should the
// pipeline fail, the index still names every session for a retry.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	const op = "delete user sessions"
	key := s.userSessionsKey(userID)
	ids, err := s.client.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return 0, fail(op, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// One DEL per session: in a cluster they live in different slots, and
	// the pipeline sends each node its share in parallel.
	dels := make([]*redis.IntCmd, len(ids))
	members := make([]any, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			dels[i] = p.Del(ctx, s.sessionKey(id))
			members[i] = id
		}
		p.ZRem(ctx, key, members...)
		return nil
	})
	if err != nil {
		return 0, fail(op, err)
	}
	n := 0
	for _, d := range dels {
		n += int(d.Val())
	}
	return n, nil
}

// EnsureUser returns the user of candidate.Email, creating it from
// candidate if there is none, in one script.
func (s *Store) EnsureUser(ctx context.Context, candidate auth.User) (auth.User, error) {
	const op = "ensure user"
	reply, err := ensureUserScript.Run(ctx, s.client, []string{s.userKey(candidate.Email)}, encodeUser(candidate)).Result()
	if err != nil {
		return auth.User{}, fail(op, err)
	}
	rec, ok := reply.(string)
	if !ok {
		return auth.User{}, fmt.Errorf("redisstore: %s: unexpected reply %T", op, reply)
	}
	u, err := decodeUser([]byte(rec))
	if err != nil {
		return auth.User{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return u, nil
}
