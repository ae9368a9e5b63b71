package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// The challenge records and the atomic steps that judge them. Every rule
// is here, as a function the store runs inside one atomic update; the
// store only keeps the bytes.

// errLocked means a challenge has used up its attempts.
var errLocked = errors.New("challenge locked")

// outcome is the verdict of one code attempt.
type outcome int

const (
	rejected outcome = iota // wrong code, counted
	accepted                // right code; the challenge is used
	locked                  // too many wrong codes before; not judged
)

// putChallenge stores c and indexes it under linkHash, the hash of its
// link token. The two writes are independent, so they go at once: on
// bbolt they share one group commit, on Redis one round trip's wait.
// Until both are stored the send has not answered, so nobody holds the
// link yet. A suppressed challenge keeps no hashes, but is indexed all
// the same under the hash of the token it was never sent: the send costs
// the same writes whoever asks (no timing oracle), and the index leads to
// a challenge that no token matches.
func (s *Service) putChallenge(ctx context.Context, c *Challenge, linkHash []byte, now time.Time) error {
	linked := make(chan error, 1)
	if linkHash != nil {
		go func() { linked <- s.store.Put(ctx, linkKey(linkHash), []byte(c.ID), c.ExpiresAt, now) }()
	} else {
		linked <- nil
	}
	err := s.store.Put(ctx, challengeKey(c.ID), encodeChallenge(c), c.ExpiresAt, now)
	linkErr := <-linked
	if err != nil {
		return storeError("create challenge", err)
	}
	if linkErr != nil {
		return storeError("index link", linkErr)
	}
	return nil
}

// challenge returns the record of id, used or not; ErrNotFound when it
// has expired or never was.
func (s *Service) challenge(ctx context.Context, id string, now time.Time) (*Challenge, error) {
	rec, err := s.store.Get(ctx, challengeKey(id), now)
	if err != nil {
		return nil, err
	}
	return decodeChallenge(id, rec)
}

// liveChallenge is challenge, refusing a used one and one that belongs
// to another caller (a provider client's challenge is not Latch's own,
// nor another client's).
func (s *Service) liveChallenge(ctx context.Context, id string, caller Caller, now time.Time) (*Challenge, error) {
	c, err := s.challenge(ctx, id, now)
	if err != nil {
		return nil, err
	}
	if !c.Live(now) || c.ClientID != caller.ClientID {
		return nil, ErrNotFound
	}
	return c, nil
}

// changeChallenge runs judge on the live challenge id inside one atomic
// update and stores what judge left in it, or removes it when judge
// returns remove. judge may run more than once.
func (s *Service) changeChallenge(ctx context.Context, id string, now time.Time, judge func(c *Challenge) (write bool, err error)) (*Challenge, error) {
	var out *Challenge
	err := s.store.Update(ctx, challengeKey(id), now, func(cur []byte) (kv.Change, error) {
		out = nil
		if cur == nil {
			return kv.Change{}, ErrNotFound
		}
		c, err := decodeChallenge(id, cur)
		if err != nil {
			return kv.Change{}, err
		}
		write, err := judge(c)
		out = c
		if err != nil || !write {
			return kv.Change{Op: kv.Keep}, err
		}
		return kv.Change{Op: kv.Write, Value: encodeChallenge(c), Expires: c.ExpiresAt}, nil
	})
	return out, err
}

// markUsed turns c into a tombstone that signs nobody in again: no
// hashes, kept until it expires so that the browser that asked can learn
// that it completed.
func markUsed(c *Challenge, now time.Time) {
	c.CodeHash, c.TokenHash = nil, nil
	c.UsedAt = now
}

// attemptCode judges one code against challenge id, atomically: a match
// uses the challenge, a miss counts an attempt, and a challenge with
// maxAttempts attempts is not judged. candidates are the code's hashes
// under the current and any previous secret.
func (s *Service) attemptCode(ctx context.Context, id string, caller Caller, candidates [][]byte, now time.Time) (outcome, *Challenge, error) {
	var verdict outcome
	c, err := s.changeChallenge(ctx, id, now, func(c *Challenge) (bool, error) {
		if !c.Live(now) || c.ClientID != caller.ClientID {
			return false, ErrNotFound
		}
		if c.Attempts >= s.cfg.MaxAttempts {
			verdict = locked
			return false, nil
		}
		if matchAny(c.CodeHash, candidates) {
			verdict = accepted
			markUsed(c, now)
			return true, nil
		}
		verdict = rejected
		c.Attempts++
		return true, nil
	})
	return verdict, c, err
}

// consumeLink uses challenge id if it still holds tokenHash.
func (s *Service) consumeLink(ctx context.Context, id string, tokenHash []byte, now time.Time) (*Challenge, error) {
	return s.changeChallenge(ctx, id, now, func(c *Challenge) (bool, error) {
		if !c.Live(now) || !matchAny(c.TokenHash, [][]byte{tokenHash}) {
			return false, ErrNotFound
		}
		markUsed(c, now)
		return true, nil
	})
}

// renewChallenge gives challenge id fresh secrets and a new expiry and
// resets its attempts; the old code and link stop working. A locked
// challenge is not renewed.
func (s *Service) renewChallenge(ctx context.Context, id string, caller Caller, fresh *Challenge, now time.Time) (*Challenge, error) {
	var old []byte
	c, err := s.changeChallenge(ctx, id, now, func(c *Challenge) (bool, error) {
		if !c.Live(now) || c.ClientID != caller.ClientID {
			return false, ErrNotFound
		}
		if c.Attempts >= s.cfg.MaxAttempts {
			return false, errLocked
		}
		old = c.TokenHash
		c.CodeHash, c.TokenHash = fresh.CodeHash, fresh.TokenHash
		c.Attempts = 0
		c.SentAt, c.ExpiresAt = fresh.SentAt, fresh.ExpiresAt
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if c.TokenHash != nil {
		if err := s.store.Put(ctx, linkKey(c.TokenHash), []byte(c.ID), c.ExpiresAt, now); err != nil {
			return nil, storeError("index link", err)
		}
	}
	if old != nil {
		// The old entry would find nothing (the challenge no longer holds
		// its hash); removing it only saves space.
		s.store.Delete(context.WithoutCancel(ctx), linkKey(old))
	}
	return c, nil
}

// challengeByToken follows the link index. The index is a hint: the
// challenge itself must still hold the hash.
func (s *Service) challengeByToken(ctx context.Context, tokenHash []byte, now time.Time) (*Challenge, error) {
	id, err := s.store.Get(ctx, linkKey(tokenHash), now)
	if err != nil {
		return nil, err
	}
	c, err := s.challenge(ctx, string(id), now)
	if err != nil {
		return nil, err
	}
	if !c.Live(now) || !matchAny(c.TokenHash, [][]byte{tokenHash}) {
		return nil, ErrNotFound
	}
	return c, nil
}

// matchAny compares stored with each candidate in constant time. An empty
// stored hash (a type without a code, a suppressed address) never matches.
func matchAny(stored []byte, candidates [][]byte) bool {
	if len(stored) == 0 {
		return false
	}
	ok := 0
	for _, c := range candidates {
		ok |= subtle.ConstantTimeCompare(stored, c)
	}
	return ok == 1
}
