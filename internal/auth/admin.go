package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// What an operator does with users, through the admin API and the command
// line. Every change is audited, and so reaches webhooks.

// Limits of what an operator keeps with a user.
const (
	MaxGroups        = 64
	MaxGroupLength   = 64
	MaxMetadataBytes = 4096
)

// Users returns every user, ordered by address.
func (s *Service) Users(ctx context.Context) ([]*User, error) {
	var out []*User
	err := s.store.Scan(ctx, "user:", s.clock.Now(), func(_ string, rec []byte) error {
		u, err := decodeUser(rec)
		if err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, storeError("list users", err)
	}
	slices.SortFunc(out, func(a, b *User) int { return strings.Compare(identity(a.Email), identity(b.Email)) })
	return out, nil
}

// CreateUser adds a user for email (an operator's "add", or an invitation),
// or returns the one that exists.
func (s *Service) CreateUser(ctx context.Context, email string) (*User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	u, err := s.ensureUser(ctx, email, true, false, s.clock.Now())
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Invite adds a user for email and mails them a sign-up link, so that
// they can join when sign-up is by invitation. The mail counts against
// the address's send limit like any other.
func (s *Service) Invite(ctx context.Context, email string, caller Caller) (*User, *Sent, error) {
	u, err := s.CreateUser(ctx, email)
	if err != nil {
		return nil, nil, err
	}
	sent, err := s.Send(ctx, SendRequest{Email: email, Template: string(TemplateSignUp), Caller: caller})
	if err != nil {
		return u, nil, err
	}
	return u, sent, nil
}

// updateUser changes the user id with change, atomically.
func (s *Service) updateUser(ctx context.Context, id string, change func(u *User) error) (*User, error) {
	var out *User
	err := s.store.Update(ctx, userKey(id), s.clock.Now(), func(cur []byte) (kv.Change, error) {
		out = nil
		if cur == nil {
			return kv.Change{}, ErrNotFound
		}
		u, err := decodeUser(cur)
		if err != nil {
			return kv.Change{}, err
		}
		if err := change(u); err != nil {
			return kv.Change{}, err
		}
		out = u
		return kv.Change{Op: kv.Write, Value: encodeUser(u)}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(CodeNotFound, "There is no such user.")
	}
	if err != nil {
		return nil, storeError("update user", err)
	}
	return out, nil
}

// SetDisabled disables or enables a user. Disabling ends every session
// and refresh token of the user at once; a disabled user cannot sign in.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool) (*User, error) {
	u, err := s.updateUser(ctx, id, func(u *User) error { u.Disabled = disabled; return nil })
	if err != nil {
		return nil, err
	}
	changed := "enabled"
	if disabled {
		changed = "disabled"
		if _, err := s.RevokeSessions(ctx, id); err != nil {
			return nil, err
		}
		if u, err = s.User(ctx, id); err != nil {
			return nil, storeError("read user", err)
		}
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventUserUpdated, Email: u.Email, UserID: id, Changed: changed})
	return u, nil
}

// SetGroups replaces the groups of a user. Names are 1–64 characters of
// letters, digits and . _ : - ; duplicates are dropped.
func (s *Service) SetGroups(ctx context.Context, id string, groups []string) (*User, error) {
	clean := make([]string, 0, len(groups))
	for _, g := range groups {
		g = strings.TrimSpace(g)
		if g == "" || len(g) > MaxGroupLength || strings.IndexFunc(g, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r))
		}) >= 0 {
			return nil, FieldError("groups", fmt.Sprintf("%q is not a group name (1–%d letters, digits, . _ : -)", g, MaxGroupLength))
		}
		clean = append(clean, g)
	}
	slices.Sort(clean)
	clean = slices.Compact(clean)
	if len(clean) > MaxGroups {
		return nil, FieldError("groups", fmt.Sprintf("must be at most %d", MaxGroups))
	}
	u, err := s.updateUser(ctx, id, func(u *User) error { u.Groups = clean; return nil })
	if err != nil {
		return nil, err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventUserUpdated, Email: u.Email, UserID: id, Changed: "groups"})
	return u, nil
}

// SetMetadata replaces the metadata of a user: a JSON object of at most
// MaxMetadataBytes.
func (s *Service) SetMetadata(ctx context.Context, id string, metadata json.RawMessage) (*User, error) {
	var obj map[string]any
	if len(metadata) > MaxMetadataBytes || json.Unmarshal(metadata, &obj) != nil || obj == nil {
		return nil, FieldError("metadata", fmt.Sprintf("must be a JSON object of at most %d bytes", MaxMetadataBytes))
	}
	compact, _ := json.Marshal(obj)
	u, err := s.updateUser(ctx, id, func(u *User) error { u.Metadata = string(compact); return nil })
	if err != nil {
		return nil, err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventUserUpdated, Email: u.Email, UserID: id, Changed: "metadata"})
	return u, nil
}

// RevokeSessions ends every session of a user and voids what was issued
// before now (refresh tokens), as "sign out everywhere" does.
func (s *Service) RevokeSessions(ctx context.Context, id string) (int, error) {
	return s.EndUserSessions(ctx, id)
}

// DeleteUser removes a person everywhere their data lives: sessions, the
// sign-ins still pending for their address and the mail queued for them,
// the user record and its address, and, through Config.OnUserDeleted,
// the records other packages keep (passkeys, consents, refresh tokens). The
// address is free to sign up again afterwards, as a new user.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	now := s.clock.Now()
	rec, err := s.store.Get(ctx, userKey(id), now)
	if errors.Is(err, ErrNotFound) {
		return Errorf(CodeNotFound, "There is no such user.")
	}
	if err != nil {
		return storeError("find user", err)
	}
	u, err := decodeUser(rec)
	if err != nil {
		return storeError("decode user", err)
	}
	if _, err := s.EndUserSessions(ctx, id); err != nil {
		return err
	}
	if err := s.dropChallenges(ctx, u.Email, now); err != nil {
		return err
	}
	var errs []error
	for _, hook := range s.cfg.OnUserDeleted {
		if err := hook(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	// The address index goes only if it still names this user.
	err = s.store.Update(ctx, emailKey(u.Email), now, func(cur []byte) (kv.Change, error) {
		if string(cur) != id {
			return kv.Change{Op: kv.Keep}, nil
		}
		return kv.Change{Op: kv.Remove}, nil
	})
	if err != nil {
		return storeError("delete user index", err)
	}
	if err := s.store.Delete(ctx, userKey(id)); err != nil {
		return storeError("delete user", err)
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventUserDeleted, Email: u.Email, UserID: id})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("auth: delete user %s: some records of other packages remain: %w", id, err)
	}
	return nil
}

// dropChallenges removes the pending sign-ins of email, and through the
// Mailer the mail still queued for each: a resend's mail replaces the one
// queued for its challenge, so a suppressed one, which carries neither
// address nor secret and is never delivered, takes its place.
func (s *Service) dropChallenges(ctx context.Context, email string, now time.Time) error {
	var pending []*Challenge
	err := s.store.Scan(ctx, "chal:", now, func(key string, rec []byte) error {
		c, err := decodeChallenge(strings.TrimPrefix(key, "chal:"), rec)
		if err == nil && identity(c.Email) == identity(email) {
			pending = append(pending, c)
		}
		return nil
	})
	if err != nil {
		return storeError("find pending sign-ins", err)
	}
	for _, c := range pending {
		if err := s.store.Delete(ctx, challengeKey(c.ID)); err != nil {
			return storeError("delete pending sign-in", err)
		}
		if c.TokenHash != nil {
			if err := s.store.Delete(ctx, linkKey(c.TokenHash)); err != nil {
				return storeError("delete pending sign-in", err)
			}
		}
		if err := s.mailer.SendLogin(ctx, &LoginMail{ChallengeID: c.ID, Suppressed: true, ExpiresAt: now.Add(time.Minute)}); err != nil {
			return Unavailable("withdraw queued mail", err)
		}
	}
	return nil
}

// signedOut records that every session of the user ended at now.
func (s *Service) signedOut(ctx context.Context, id string, now time.Time) error {
	err := s.store.Update(ctx, userKey(id), now, func(cur []byte) (kv.Change, error) {
		if cur == nil {
			return kv.Change{Op: kv.Keep}, nil
		}
		u, err := decodeUser(cur)
		if err != nil {
			return kv.Change{}, err
		}
		u.SignedOutAt = now
		return kv.Change{Op: kv.Write, Value: encodeUser(u)}, nil
	})
	if err != nil {
		return storeError("record sign-out", err)
	}
	return nil
}
