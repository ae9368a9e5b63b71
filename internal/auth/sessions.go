package auth

import (
	"context"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// SessionInfo describes where a session is opened, for the account page.
type SessionInfo struct {
	Method  string // code, link or passkey
	Device  string // a short browser name
	Network string // the client's network (e.g. 203.0.113.0/24)
}

// StartSession opens a new session for u and returns its token, which only
// the caller ever sees. Every login gets a new token (no fixation).
func (s *Service) StartSession(ctx context.Context, u User, info ...SessionInfo) (string, *Session, error) {
	token, err := randomToken(s.cfg.Random, sessionTokenBytes)
	if err != nil {
		return "", nil, err
	}
	now := s.clock.Now()
	sess := &Session{
		ID:          SessionID(token),
		UserID:      u.ID,
		Email:       u.Email,
		CreatedAt:   now,
		LastSeenAt:  now,
		ExpiresAt:   now.Add(s.cfg.SessionLifetime),
		IdleTimeout: s.cfg.SessionIdleTimeout,
	}
	if len(info) > 0 {
		sess.Method, sess.Device, sess.Network = info[0].Method, info[0].Device, info[0].Network
	}
	if err := s.putSession(ctx, sess, now); err != nil {
		return "", nil, err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventSessionCreated, Email: sess.Email, UserID: sess.UserID, SessionID: sess.ID, Method: sess.Method})
	return token, sess, nil
}

func (s *Service) putSession(ctx context.Context, sess *Session, now time.Time) error {
	// The index entry first: a session that exists is always found by
	// "sign out everywhere", even if the second write fails.
	if err := s.store.AddMember(ctx, userSessionsKey(sess.UserID), sess.ID, sess.ExpiresAt, now); err != nil {
		return storeError("index session", err)
	}
	if err := s.store.Put(ctx, sessionKey(sess.ID), encodeSession(sess), sess.Deadline(), now); err != nil {
		return storeError("create session", err)
	}
	return nil
}

// Authenticate returns the live session of token. It records use at most
// once a minute, so the common case is a single store read.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, error) {
	if !validToken(token, sessionTokenBytes) {
		return nil, unauthorized()
	}
	return s.SessionByID(ctx, SessionID(token))
}

// SessionByID is Authenticate for a session known by its ID (the sid of
// an access token), recording use likewise.
func (s *Service) SessionByID(ctx context.Context, id string) (*Session, error) {
	now := s.clock.Now()
	rec, err := s.store.Get(ctx, sessionKey(id), now)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, unauthorized()
	}
	if err != nil {
		return nil, storeError("find session", err)
	}
	sess, err := decodeSession(id, rec)
	if err != nil {
		return nil, storeError("decode session", err)
	}
	if !sess.Live(now) {
		return nil, unauthorized()
	}
	if now.Sub(sess.LastSeenAt) >= s.touchInterval() {
		// A failed touch only shortens the idle deadline; the read succeeded.
		if err := s.touchSession(ctx, id, now); err == nil {
			sess.LastSeenAt = now
		}
	}
	return sess, nil
}

func (s *Service) touchSession(ctx context.Context, id string, now time.Time) error {
	return s.store.Update(ctx, sessionKey(id), now, func(cur []byte) (kv.Change, error) {
		if cur == nil {
			return kv.Change{Op: kv.Keep}, nil
		}
		sess, err := decodeSession(id, cur)
		if err != nil {
			return kv.Change{}, err
		}
		if !sess.Live(now) || !now.After(sess.LastSeenAt) {
			return kv.Change{Op: kv.Keep}, nil
		}
		sess.LastSeenAt = now
		return kv.Change{Op: kv.Write, Value: encodeSession(sess), Expires: sess.Deadline()}, nil
	})
}

func (s *Service) touchInterval() time.Duration {
	return min(s.cfg.SessionIdleTimeout/20, time.Minute)
}

// Sessions lists the live sessions of a user, newest first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]*Session, error) {
	now := s.clock.Now()
	ids, err := s.store.Members(ctx, userSessionsKey(userID), now)
	if err != nil {
		return nil, storeError("list sessions", err)
	}
	var out []*Session
	for _, id := range ids {
		rec, err := s.store.Get(ctx, sessionKey(id), now)
		if errors.Is(err, kv.ErrNotFound) {
			// Ended: drop the stale index entry.
			s.store.RemoveMember(ctx, userSessionsKey(userID), id)
			continue
		}
		if err != nil {
			return nil, storeError("read session", err)
		}
		sess, err := decodeSession(id, rec)
		if err != nil {
			return nil, storeError("decode session", err)
		}
		out = append(out, sess)
	}
	sortNewestFirst(out)
	return out, nil
}

func sortNewestFirst(list []*Session) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].CreatedAt.After(list[j-1].CreatedAt); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

// EndSession ends one session.
func (s *Service) EndSession(ctx context.Context, sess *Session) error {
	if err := s.store.Delete(ctx, sessionKey(sess.ID)); err != nil {
		return storeError("delete session", err)
	}
	s.store.RemoveMember(context.WithoutCancel(ctx), userSessionsKey(sess.UserID), sess.ID)
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventSessionRevoked, Email: sess.Email, UserID: sess.UserID, SessionID: sess.ID})
	return nil
}

// EndSessionOf ends the session id of userID (the account page's "sign
// out" beside one of the person's sessions); another user's session is
// not found.
func (s *Service) EndSessionOf(ctx context.Context, userID, id string) error {
	rec, err := s.store.Get(ctx, sessionKey(id), s.clock.Now())
	if err != nil {
		return storeError("find session", err)
	}
	sess, err := decodeSession(id, rec)
	if err != nil {
		return storeError("decode session", err)
	}
	if sess.UserID != userID {
		return expired()
	}
	return s.EndSession(ctx, sess)
}

// EndUserSessions ends every session of a user and reports how many.
func (s *Service) EndUserSessions(ctx context.Context, userID string) (int, error) {
	now := s.clock.Now()
	key := userSessionsKey(userID)
	ids, err := s.store.Members(ctx, key, now)
	if err != nil {
		return 0, storeError("list sessions", err)
	}
	for _, id := range ids {
		if err := s.store.Delete(ctx, sessionKey(id)); err != nil {
			return 0, storeError("delete session", err)
		}
	}
	if err := s.store.Delete(ctx, key); err != nil {
		return 0, storeError("delete session index", err)
	}
	if err := s.signedOut(ctx, userID, now); err != nil {
		return 0, err
	}
	for _, id := range ids {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventSessionRevoked, UserID: userID, SessionID: id})
	}
	return len(ids), nil
}

// Logout ends the session of token, or every session of its user.
func (s *Service) Logout(ctx context.Context, token string, everywhere bool) error {
	sess, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	if everywhere {
		if _, err := s.EndUserSessions(ctx, sess.UserID); err != nil {
			return err
		}
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLogoutEverywhere, Email: sess.Email, UserID: sess.UserID})
		return nil
	}
	if err := s.EndSession(ctx, sess); err != nil {
		return err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLogout, Email: sess.Email, UserID: sess.UserID})
	return nil
}
