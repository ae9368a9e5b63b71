package auth

import (
	"context"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// ensureUser returns the user of email, creating it if there is none. The
// email index is the one truth of which user an address belongs to: its
// update is atomic, so racing sign-ins of one new address (on any replica)
// all get the one user. Case does not matter; the stored Email keeps the
// spelling first seen.
func (s *Service) ensureUser(ctx context.Context, email string, now time.Time) (*User, error) {
	fresh, err := randomToken(s.cfg.Random, userIDBytes)
	if err != nil {
		return nil, err
	}
	fresh = "usr_" + fresh
	uid, err := s.indexEmail(ctx, email, fresh, now)
	if err != nil {
		return nil, err
	}
	var u *User
	err = s.store.Update(ctx, userKey(uid), now, func(cur []byte) (kv.Change, error) {
		u = nil
		if cur != nil {
			var err error
			u, err = decodeUser(cur)
			if err != nil {
				return kv.Change{}, err
			}
		} else {
			u = &User{ID: uid, Email: email, CreatedAt: now}
		}
		if u.Disabled {
			return kv.Change{Op: kv.Keep}, nil
		}
		u.LastSignInAt = now
		return kv.Change{Op: kv.Write, Value: encodeUser(u)}, nil
	})
	if err != nil {
		return nil, storeError("ensure user", err)
	}
	return u, nil
}

// indexEmail returns the user ID the address is indexed under, indexing
// it under candidate when it has none.
func (s *Service) indexEmail(ctx context.Context, email, candidate string, now time.Time) (string, error) {
	var uid string
	err := s.store.Update(ctx, emailKey(email), now, func(cur []byte) (kv.Change, error) {
		if cur != nil {
			uid = string(cur)
			return kv.Change{Op: kv.Keep}, nil
		}
		uid = candidate
		return kv.Change{Op: kv.Write, Value: []byte(candidate)}, nil
	})
	if err != nil {
		return "", storeError("index user", err)
	}
	return uid, nil
}

// UserByEmail returns the user of an address, or ErrNotFound.
func (s *Service) UserByEmail(ctx context.Context, email string) (*User, error) {
	now := s.clock.Now()
	uid, err := s.store.Get(ctx, emailKey(email), now)
	if err != nil {
		return nil, err
	}
	return s.User(ctx, string(uid))
}

// User returns the user with id, or ErrNotFound.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	rec, err := s.store.Get(ctx, userKey(id), s.clock.Now())
	if err != nil {
		return nil, err
	}
	return decodeUser(rec)
}
