// Package memstore keeps Latch's state in process memory: for tests and for
// a single process that may forget everything when it stops.
package memstore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

var (
	_ auth.Store   = (*Store)(nil)
	_ auth.Limiter = (*Store)(nil)
)

// sweepEvery is how many writes pass between sweeps of expired entries,
// which bounds the memory held by data nobody asks for again.
const sweepEvery = 1024

// Store is an auth.Store and auth.Limiter in memory. The zero value is not
// usable; call New.
type Store struct {
	mu           sync.Mutex
	challenges   map[string]*auth.Challenge
	tokens       map[string]string // token hash → challenge id
	sessions     map[string]*auth.Session
	userSessions map[string]map[string]struct{}
	users        map[string]auth.User // email → user
	counters     map[string]counter
	writes       int
}

type counter struct {
	window time.Time
	expiry time.Time
	count  int
}

// New returns an empty store.
func New() *Store {
	return &Store{
		challenges:   map[string]*auth.Challenge{},
		tokens:       map[string]string{},
		sessions:     map[string]*auth.Session{},
		userSessions: map[string]map[string]struct{}{},
		users:        map[string]auth.User{},
		counters:     map[string]counter{},
	}
}

// Ping always succeeds.
func (s *Store) Ping(context.Context) error { return nil }

// Close does nothing; it exists so that every store closes alike.
func (s *Store) Close() error { return nil }

func copyChallenge(c *auth.Challenge) *auth.Challenge {
	out := *c
	out.CodeHash = bytes.Clone(c.CodeHash)
	out.TokenHash = bytes.Clone(c.TokenHash)
	out.BindingHash = bytes.Clone(c.BindingHash)
	out.TemplateVariables = maps.Clone(c.TemplateVariables)
	return &out
}

// CreateChallenge stores a copy of c.
func (s *Store) CreateChallenge(_ context.Context, c *auth.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrote(c.CreatedAt)
	s.challenges[c.ID] = copyChallenge(c)
	if c.TokenHash != nil {
		s.tokens[string(c.TokenHash)] = c.ID
	}
	return nil
}

// live returns the stored challenge id if it is live at now. Callers hold mu.
func (s *Store) live(id string, now time.Time) (*auth.Challenge, error) {
	c, ok := s.challenges[id]
	if !ok || !c.Live(now) {
		return nil, auth.ErrNotFound
	}
	return c, nil
}

func (s *Store) remove(c *auth.Challenge) {
	delete(s.challenges, c.ID)
	if c.TokenHash != nil {
		delete(s.tokens, string(c.TokenHash))
	}
}

// Challenge returns a copy of the live challenge id.
func (s *Store) Challenge(_ context.Context, id string, now time.Time) (*auth.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.live(id, now)
	if err != nil {
		return nil, err
	}
	return copyChallenge(c), nil
}

// ChallengeByToken returns a copy of the live challenge with tokenHash.
func (s *Store) ChallengeByToken(_ context.Context, tokenHash []byte, now time.Time) (*auth.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.tokens[string(tokenHash)]
	if !ok {
		return nil, auth.ErrNotFound
	}
	c, err := s.live(id, now)
	if err != nil {
		return nil, err
	}
	return copyChallenge(c), nil
}

// AttemptCode judges one code under the store's lock.
func (s *Store) AttemptCode(_ context.Context, id string, candidates [][]byte, maxAttempts int, now time.Time) (auth.Attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.live(id, now)
	if err != nil {
		return auth.Attempt{}, err
	}
	if c.Attempts >= maxAttempts {
		return auth.Attempt{Outcome: auth.Locked, Challenge: copyChallenge(c)}, nil
	}
	match := 0
	for _, h := range candidates {
		match |= subtle.ConstantTimeCompare(c.CodeHash, h)
	}
	if match == 1 && len(c.CodeHash) > 0 {
		s.remove(c)
		return auth.Attempt{Outcome: auth.Accepted, Challenge: copyChallenge(c), AttemptsLeft: maxAttempts - c.Attempts}, nil
	}
	c.Attempts++
	return auth.Attempt{Outcome: auth.Rejected, Challenge: copyChallenge(c), AttemptsLeft: maxAttempts - c.Attempts}, nil
}

// ConsumeLink consumes the challenge id if tokenHash is its link's hash.
func (s *Store) ConsumeLink(_ context.Context, id string, tokenHash []byte, now time.Time) (*auth.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.live(id, now)
	if err != nil {
		return nil, err
	}
	if len(c.TokenHash) == 0 || subtle.ConstantTimeCompare(c.TokenHash, tokenHash) != 1 {
		return nil, auth.ErrNotFound
	}
	s.remove(c)
	return copyChallenge(c), nil
}

// RenewChallenge replaces the code and link of the challenge id.
func (s *Store) RenewChallenge(_ context.Context, id string, r auth.Renewal, maxAttempts int, now time.Time) (*auth.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.live(id, now)
	if err != nil {
		return nil, err
	}
	if c.Attempts >= maxAttempts {
		return nil, auth.ErrLocked
	}
	if c.TokenHash != nil {
		delete(s.tokens, string(c.TokenHash))
	}
	c.CodeHash, c.TokenHash = bytes.Clone(r.CodeHash), bytes.Clone(r.TokenHash)
	c.Attempts, c.SentAt, c.ExpiresAt = 0, r.SentAt, r.ExpiresAt
	if c.TokenHash != nil {
		s.tokens[string(c.TokenHash)] = c.ID
	}
	return copyChallenge(c), nil
}

// CreateSession stores a copy of sess and indexes it by user.
func (s *Store) CreateSession(_ context.Context, sess *auth.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrote(sess.CreatedAt)
	cp := *sess
	s.sessions[sess.ID] = &cp
	idx := s.userSessions[sess.UserID]
	if idx == nil {
		idx = map[string]struct{}{}
		s.userSessions[sess.UserID] = idx
	}
	idx[sess.ID] = struct{}{}
	return nil
}

// Session returns a copy of the live session id.
func (s *Store) Session(_ context.Context, id string, now time.Time) (*auth.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok || !sess.Live(now) {
		return nil, auth.ErrNotFound
	}
	cp := *sess
	return &cp, nil
}

// TouchSession moves the last use of session id to lastSeen.
func (s *Store) TouchSession(_ context.Context, id string, lastSeen time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok || !sess.Live(lastSeen) {
		return auth.ErrNotFound
	}
	if lastSeen.After(sess.LastSeenAt) {
		sess.LastSeenAt = lastSeen
	}
	return nil
}

// DeleteSession removes session id.
func (s *Store) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteSession(id)
	return nil
}

func (s *Store) deleteSession(id string) {
	sess, ok := s.sessions[id]
	if !ok {
		return
	}
	delete(s.sessions, id)
	if idx := s.userSessions[sess.UserID]; idx != nil {
		delete(idx, id)
		if len(idx) == 0 {
			delete(s.userSessions, sess.UserID)
		}
	}
}

// DeleteUserSessions removes every session of userID.
func (s *Store) DeleteUserSessions(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Collect(maps.Keys(s.userSessions[userID]))
	for _, id := range ids {
		s.deleteSession(id)
	}
	return len(ids), nil
}

// EnsureUser returns the user of candidate.Email, creating it if needed.
func (s *Store) EnsureUser(_ context.Context, candidate auth.User) (auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[candidate.Email]; ok {
		return u, nil
	}
	s.users[candidate.Email] = candidate
	return candidate, nil
}

// Take counts one event under key.
func (s *Store) Take(_ context.Context, key string, limit int, window time.Duration, now time.Time) (auth.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counter(key, window, now)
	c.count++
	s.counters[key] = c
	return auth.NewDecision(c.count, limit, window, now), nil
}

// Peek reports the count under key without changing it.
func (s *Store) Peek(_ context.Context, key string, limit int, window time.Duration, now time.Time) (auth.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return auth.PeekDecision(s.counter(key, window, now).count, limit, window, now), nil
}

func (s *Store) counter(key string, window time.Duration, now time.Time) counter {
	start := auth.WindowStart(now, window)
	c := s.counters[key]
	if !c.window.Equal(start) {
		s.wrote(now)
		c = counter{window: start, expiry: start.Add(window)}
	}
	return c
}

// wrote counts a write and, every sweepEvery writes, removes expired
// entries. Each sweep looks at no more than sweepEvery entries of each map
// (Go starts every map iteration at a random place), so its cost per
// write stays constant however much is stored. Callers hold mu.
func (s *Store) wrote(now time.Time) {
	s.writes++
	if s.writes%sweepEvery != 0 {
		return
	}
	n := 0
	for _, c := range s.challenges {
		if n++; n > sweepEvery {
			break
		}
		if !c.Live(now) {
			s.remove(c)
		}
	}
	n = 0
	for id, sess := range s.sessions {
		if n++; n > sweepEvery {
			break
		}
		if !sess.Live(now) {
			s.deleteSession(id)
		}
	}
	n = 0
	for k, c := range s.counters {
		if n++; n > sweepEvery {
			break
		}
		if !now.Before(c.expiry) {
			delete(s.counters, k)
		}
	}
}
