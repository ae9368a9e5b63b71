package auth

import (
	"context"
	"errors"

	"github.com/latch-auth/latch/internal/kv"
)

// SignInUser turns a proof that another package judged (a passkey's
// assertion) into a signed-in user, as login does for codes and links: the
// user must exist and not be disabled, its last sign-in is recorded, and
// the sign-in is audited (and so counted) under method. A user who is
// gone or disabled gets the expired error, as an email sign-in would.
func (s *Service) SignInUser(ctx context.Context, userID, method string) (*Login, error) {
	now := s.clock.Now()
	var u *User
	err := s.store.Update(ctx, userKey(userID), now, func(cur []byte) (kv.Change, error) {
		u = nil
		if cur == nil {
			return kv.Change{}, ErrNotFound
		}
		got, err := decodeUser(cur)
		if err != nil {
			return kv.Change{}, err
		}
		u = got
		if u.Disabled {
			return kv.Change{Op: kv.Keep}, nil
		}
		u.LastSignInAt = now
		return kv.Change{Op: kv.Write, Value: encodeUser(u)}, nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginFailed, UserID: userID, Method: method, Reason: CodeExpired})
		return nil, expired()
	case err != nil:
		return nil, storeError("sign in user", err)
	case u.Disabled:
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginFailed, Email: u.Email, UserID: u.ID, Method: method, Reason: CodeExpired})
		return nil, expired()
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginSucceeded, Email: u.Email, UserID: u.ID, Method: method})
	return &Login{User: *u, Method: method}, nil
}
