package auth

import (
	"context"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// ensureUser returns the user of email, creating it if there is none. The
// email index is the one truth of which user an address belongs to: its
// update is atomic, so racing sign-ins of one new address (on any replica)
// all get the one user. Case does not matter; the stored Email keeps the
// spelling first seen.
// With create false a missing user is not created and nil is returned.
// signIn records the sign-in (LastSignInAt); an operator adding a user
// (CreateUser) does not.
func (s *Service) ensureUser(ctx context.Context, email string, create, signIn bool, now time.Time) (*User, error) {
	if !create {
		if _, err := s.userByEmail(ctx, email, now); errors.Is(err, ErrNotFound) {
			return nil, nil
		}
	}
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
	created := false
	err = s.store.Update(ctx, userKey(uid), now, func(cur []byte) (kv.Change, error) {
		u, created = nil, false
		if cur != nil {
			var err error
			u, err = decodeUser(cur)
			if err != nil {
				return kv.Change{}, err
			}
		} else {
			u, created = &User{ID: uid, Email: email, CreatedAt: now}, true
		}
		if u.Disabled || (!signIn && !created) {
			return kv.Change{Op: kv.Keep}, nil
		}
		if signIn {
			u.LastSignInAt = now
		}
		return kv.Change{Op: kv.Write, Value: encodeUser(u)}, nil
	})
	if err != nil {
		return nil, storeError("ensure user", err)
	}
	if created {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventUserCreated, Email: email, UserID: u.ID})
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
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	return s.userByEmail(ctx, email, s.clock.Now())
}

func (s *Service) userByEmail(ctx context.Context, email string, now time.Time) (*User, error) {
	uid, err := s.store.Get(ctx, emailKey(email), now)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Get(ctx, userKey(string(uid)), now)
	if err != nil {
		return nil, err
	}
	return decodeUser(rec)
}

// User returns the user with id, or ErrNotFound.
func (s *Service) User(ctx context.Context, id string) (*User, error) {
	rec, err := s.store.Get(ctx, userKey(id), s.clock.Now())
	if err != nil {
		return nil, err
	}
	return decodeUser(rec)
}
