package passkey

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// noExpiry is the zero time: passkeys and their index never expire.
var noExpiry time.Time

// List returns the passkeys of a user, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]*Passkey, error) {
	now := s.cfg.Clock.Now()
	ids, err := s.store.Members(ctx, userSetKey(userID), now)
	if err != nil {
		return nil, storeError("list passkeys", err)
	}
	out := make([]*Passkey, 0, len(ids))
	for _, id := range ids {
		p, err := s.get(ctx, id, now)
		if errors.Is(err, kv.ErrNotFound) {
			// Removed, and the index entry left behind: drop it.
			s.store.RemoveMember(ctx, userSetKey(userID), id)
			continue
		}
		if err != nil {
			return nil, storeError("read passkey", err)
		}
		if p.UserID == userID {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Passkey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *Service) get(ctx context.Context, id string, now time.Time) (*Passkey, error) {
	rec, err := s.store.Get(ctx, passkeyKey(id), now)
	if err != nil {
		return nil, err
	}
	return decodePasskey(id, rec)
}

// Rename gives the passkey id of userID a new name (trimmed, at most
// MaxNameLength characters, no control characters). Another person's
// passkey is not found.
func (s *Service) Rename(ctx context.Context, userID, id, name string) error {
	name = cleanName(name)
	if name == "" {
		return auth.FieldError("name", "is required")
	}
	err := s.store.Update(ctx, passkeyKey(id), s.cfg.Clock.Now(), func(cur []byte) (kv.Change, error) {
		if cur == nil {
			return kv.Change{}, kv.ErrNotFound
		}
		p, err := decodePasskey(id, cur)
		if err != nil {
			return kv.Change{}, err
		}
		if p.UserID != userID {
			return kv.Change{}, kv.ErrNotFound
		}
		p.Name = name
		return kv.Change{Op: kv.Write, Value: encodePasskey(p)}, nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return storeError("rename passkey", err)
	}
	return nil
}

// Remove deletes the passkey id of the signed-in person: it no longer
// signs anyone in. Another person's passkey is not found.
func (s *Service) Remove(ctx context.Context, sess *auth.Session, id string) error {
	now := s.cfg.Clock.Now()
	err := s.store.Update(ctx, passkeyKey(id), now, func(cur []byte) (kv.Change, error) {
		if cur == nil {
			return kv.Change{}, kv.ErrNotFound
		}
		p, err := decodePasskey(id, cur)
		if err != nil {
			return kv.Change{}, err
		}
		if p.UserID != sess.UserID {
			return kv.Change{}, kv.ErrNotFound
		}
		return kv.Change{Op: kv.Remove}, nil
	})
	if errors.Is(err, kv.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return storeError("remove passkey", err)
	}
	s.store.RemoveMember(context.WithoutCancel(ctx), userSetKey(sess.UserID), id)
	s.cfg.Auditor.Audit(ctx, auth.Event{Kind: auth.EventPasskeyRemoved, Email: sess.Email, UserID: sess.UserID, Passkey: id})
	return nil
}

// ForgetUser returns the hook (auth.Config.OnUserDeleted) that removes
// every passkey of a deleted user from store.
func ForgetUser(store kv.Store, clock auth.Clock) func(ctx context.Context, userID string) error {
	if clock == nil {
		clock = auth.SystemClock{}
	}
	return func(ctx context.Context, userID string) error {
		ids, err := store.Members(ctx, userSetKey(userID), clock.Now())
		if err != nil {
			return storeError("list passkeys", err)
		}
		for _, id := range ids {
			if err := store.Delete(ctx, passkeyKey(id)); err != nil {
				return storeError("delete passkey", err)
			}
		}
		if err := store.Delete(ctx, userSetKey(userID)); err != nil {
			return storeError("delete passkey index", err)
		}
		return nil
	}
}

// cleanName trims a passkey's name, drops control characters and cuts it
// to MaxNameLength characters.
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(name))
	if r := []rune(name); len(r) > MaxNameLength {
		name = strings.TrimSpace(string(r[:MaxNameLength]))
	}
	return name
}

func notFound() *auth.Error {
	return auth.Errorf(auth.CodeNotFound, "There is no such passkey.")
}
