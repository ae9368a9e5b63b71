package redisstore

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latch-auth/latch/internal/auth"
)

// The scripts that judge and consume challenges. Each touches only the
// challenge's own key; they read the record's head (see challengeHead)
// and judge liveness by the caller's now, in microseconds.

// attemptScript judges one code.
// KEYS[1] challenge; ARGV[1] now; ARGV[2] max attempts; ARGV[3…] candidates.
// Returns {0} when there is no live challenge, else {outcome, record as
// judged, attempts after}: 1 accepted (the key is deleted), 2 rejected (the
// count is raised in place, keeping the TTL), 3 locked (nothing changes).
var attemptScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then return {0} end
local version, attempts, expires, _, code = struct.unpack('>BHi8i8Bc0', rec)
if version ~= 1 then return redis.error_reply('unknown challenge record version') end
if tonumber(ARGV[1]) >= expires then return {0} end
if attempts >= tonumber(ARGV[2]) then return {3, rec, attempts} end
if #code > 0 then
  for i = 3, #ARGV do
    if ARGV[i] == code then
      redis.call('DEL', KEYS[1])
      return {1, rec, attempts}
    end
  end
end
attempts = attempts + 1
redis.call('SETRANGE', KEYS[1], 1, struct.pack('>H', attempts))
return {2, rec, attempts}
`)

// consumeScript consumes a challenge by its link.
// KEYS[1] challenge; ARGV[1] now; ARGV[2] token hash.
// Returns the record, deleted, or nil when there is no live challenge
// with that token.
var consumeScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then return false end
local version, _, expires, _, _, token = struct.unpack('>BHi8i8Bc0Bc0', rec)
if version ~= 1 then return redis.error_reply('unknown challenge record version') end
if tonumber(ARGV[1]) >= expires or #token == 0 or token ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
return rec
`)

// renewScript replaces a challenge's head: new code and token, no
// attempts, new times.
// KEYS[1] challenge; ARGV[1] now; ARGV[2] max attempts; ARGV[3] new head;
// ARGV[4] TTL in milliseconds.
// Returns {0} when there is no live challenge, {3} when it is locked,
// else {1, new record, old token hash}.
var renewScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then return {0} end
local version, attempts, expires, _, _, token, rest = struct.unpack('>BHi8i8Bc0Bc0', rec)
if version ~= 1 then return redis.error_reply('unknown challenge record version') end
if tonumber(ARGV[1]) >= expires then return {0} end
if attempts >= tonumber(ARGV[2]) then return {3} end
local renewed = ARGV[3] .. string.sub(rec, rest)
redis.call('SET', KEYS[1], renewed, 'PX', ARGV[4])
return {1, renewed, token}
`)

// CreateChallenge stores c and its token index in one round trip, both
// until c.ExpiresAt.
func (s *Store) CreateChallenge(ctx context.Context, c *auth.Challenge) error {
	rec, err := encodeChallenge(c)
	if err != nil {
		return fmt.Errorf("redisstore: create challenge: %w", err)
	}
	life := ttl(c.ExpiresAt, creationTime(c.CreatedAt))
	// Cluster pipelines send to each node in parallel. Should only the
	// index fail, the error is reported and no mail goes out; should only
	// the challenge fail, the index points at nothing.
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.challengeKey(c.ID), rec, life)
		if len(c.TokenHash) > 0 {
			p.Set(ctx, s.tokenKey(c.TokenHash), c.ID, life)
		}
		return nil
	})
	if err != nil {
		return fail("create challenge", err)
	}
	return nil
}

// Challenge returns the live challenge id in one GET.
func (s *Store) Challenge(ctx context.Context, id string, now time.Time) (*auth.Challenge, error) {
	return s.challenge(ctx, "get challenge", id, now)
}

func (s *Store) challenge(ctx context.Context, op, id string, now time.Time) (*auth.Challenge, error) {
	rec, err := s.client.Get(ctx, s.challengeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, auth.ErrNotFound
	}
	if err != nil {
		return nil, fail(op, err)
	}
	c, err := decodeChallenge(id, rec)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if !c.Live(now) {
		return nil, auth.ErrNotFound
	}
	return c, nil
}

// ChallengeByToken follows the token index to the challenge (two GETs:
// the index and the challenge live in different slots) and returns it only
// if it still holds tokenHash.
func (s *Store) ChallengeByToken(ctx context.Context, tokenHash []byte, now time.Time) (*auth.Challenge, error) {
	const op = "find challenge by token"
	if len(tokenHash) == 0 {
		return nil, auth.ErrNotFound
	}
	id, err := s.client.Get(ctx, s.tokenKey(tokenHash)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, auth.ErrNotFound
	}
	if err != nil {
		return nil, fail(op, err)
	}
	c, err := s.challenge(ctx, op, id, now)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(c.TokenHash, tokenHash) != 1 {
		return nil, auth.ErrNotFound // a stale index entry
	}
	return c, nil
}

// AttemptCode judges one code in one script.
func (s *Store) AttemptCode(ctx context.Context, id string, candidates [][]byte, maxAttempts int, now time.Time) (auth.Attempt, error) {
	const op = "attempt code"
	args := make([]any, 0, 2+len(candidates))
	args = append(args, micros(now), clampAttempts(maxAttempts))
	for _, h := range candidates {
		args = append(args, h)
	}
	reply, err := attemptScript.Run(ctx, s.client, []string{s.challengeKey(id)}, args...).Result()
	if err != nil {
		return auth.Attempt{}, fail(op, err)
	}
	outcome, rest, err := scriptOutcome(reply, 2)
	if err != nil {
		return auth.Attempt{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if outcome == 0 {
		return auth.Attempt{}, auth.ErrNotFound
	}
	if len(rest) != 2 {
		return auth.Attempt{}, fmt.Errorf("redisstore: %s: outcome %d without the challenge", op, outcome)
	}
	rec, ok1 := rest[0].(string)
	attempts, ok2 := rest[1].(int64)
	if !ok1 || !ok2 {
		return auth.Attempt{}, fmt.Errorf("redisstore: %s: unexpected reply %T, %T", op, rest[0], rest[1])
	}
	c, err := decodeChallenge(id, []byte(rec))
	if err != nil {
		return auth.Attempt{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	c.Attempts = int(attempts)
	a := auth.Attempt{Challenge: c, AttemptsLeft: max(0, maxAttempts-c.Attempts)}
	switch outcome {
	case 1:
		a.Outcome = auth.Accepted
		s.forgetToken(ctx, c.TokenHash)
	case 2:
		a.Outcome = auth.Rejected
	case 3:
		a.Outcome, a.AttemptsLeft = auth.Locked, 0
	default:
		return auth.Attempt{}, fmt.Errorf("redisstore: %s: unexpected outcome %d", op, outcome)
	}
	return a, nil
}

// ConsumeLink consumes the challenge id by its link in one script.
func (s *Store) ConsumeLink(ctx context.Context, id string, tokenHash []byte, now time.Time) (*auth.Challenge, error) {
	const op = "consume link"
	if len(tokenHash) == 0 {
		return nil, auth.ErrNotFound
	}
	reply, err := consumeScript.Run(ctx, s.client, []string{s.challengeKey(id)}, micros(now), tokenHash).Result()
	if errors.Is(err, redis.Nil) {
		return nil, auth.ErrNotFound
	}
	if err != nil {
		return nil, fail(op, err)
	}
	rec, ok := reply.(string)
	if !ok {
		return nil, fmt.Errorf("redisstore: %s: unexpected reply %T", op, reply)
	}
	c, err := decodeChallenge(id, []byte(rec))
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	s.forgetToken(ctx, tokenHash)
	return c, nil
}

// RenewChallenge replaces the code and link of challenge id: the new
// token's index entry and the renewing script go in one round trip.
func (s *Store) RenewChallenge(ctx context.Context, id string, r auth.Renewal, maxAttempts int, now time.Time) (*auth.Challenge, error) {
	const op = "renew challenge"
	head, err := challengeHead(0, r.ExpiresAt, r.SentAt, r.CodeHash, r.TokenHash)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	life := ttl(r.ExpiresAt, now)
	keys := []string{s.challengeKey(id)}
	args := []any{micros(now), clampAttempts(maxAttempts), head, life.Milliseconds()}

	// The new index entry may land before the script runs or even when it
	// refuses: an entry whose challenge does not hold its token finds
	// nothing, and it expires.
	var index *redis.StatusCmd
	var renew *redis.Cmd
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(r.TokenHash) > 0 {
			index = p.Set(ctx, s.tokenKey(r.TokenHash), id, life)
		}
		renew = renewScript.EvalSha(ctx, p, keys, args...)
		return nil
	})
	if index != nil && index.Err() != nil {
		return nil, fail(op, index.Err())
	}
	if isNoScript(renew.Err()) {
		renew = renewScript.Eval(ctx, s.client, keys, args...)
	}
	reply, err := renew.Result()
	if err != nil {
		return nil, fail(op, err)
	}
	outcome, rest, err := scriptOutcome(reply, 2)
	switch {
	case err != nil:
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	case outcome == 0:
		return nil, auth.ErrNotFound
	case outcome == 3:
		return nil, auth.ErrLocked
	}
	rec, ok1 := rest[0].(string)
	old, ok2 := rest[1].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("redisstore: %s: unexpected reply %T, %T", op, rest[0], rest[1])
	}
	c, err := decodeChallenge(id, []byte(rec))
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if old != string(r.TokenHash) {
		s.forgetToken(ctx, []byte(old))
	}
	return c, nil
}

// forgetToken deletes the index entry of a token that no longer works.
// It is best effort: a stale entry finds nothing and expires with the
// challenge it pointed at, so a failure here must not fail a login.
func (s *Store) forgetToken(ctx context.Context, tokenHash []byte) {
	if len(tokenHash) > 0 {
		_ = s.client.Del(ctx, s.tokenKey(tokenHash)).Err()
	}
}

// clampAttempts keeps maxAttempts within what a record can count.
func clampAttempts(n int) string {
	return strconv.Itoa(min(max(n, 0), maxAttempts))
}

// scriptOutcome reads a script reply of the form {outcome} or
// {outcome, n more values}. Outcome 0 (nothing live) and 3 (locked) may
// come alone.
func scriptOutcome(reply any, n int) (int64, []any, error) {
	vals, ok := reply.([]any)
	if !ok || len(vals) == 0 {
		return 0, nil, fmt.Errorf("unexpected reply %T", reply)
	}
	outcome, ok := vals[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected outcome %T", vals[0])
	}
	if len(vals) == 1 && (outcome == 0 || outcome == 3) {
		return outcome, nil, nil
	}
	if len(vals) != 1+n {
		return 0, nil, fmt.Errorf("reply of %d values for outcome %d", len(vals), outcome)
	}
	return outcome, vals[1:], nil
}
