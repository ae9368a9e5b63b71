package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Store keeps everything the engine must remember. Every implementation
// passes the conformance suite in package authtest. Methods that find
// nothing live return ErrNotFound (possibly wrapped); any other error means
// the store failed, and stores that can be unreachable wrap such failures
// with Unavailable. Every method that decides expiry takes now from the
// caller, so one clock rules the whole system; stores that can also expire
// data by themselves (TTLs) must never keep anything past its expiry.
type Store interface {
	ChallengeStore
	SessionStore
	UserStore
	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
}

// ChallengeStore keeps pending logins. Operations that judge or consume a
// challenge are atomic: when replicas race, each attempt is counted once and
// a challenge is consumed at most once.
type ChallengeStore interface {
	// CreateChallenge stores c until c.ExpiresAt. c.ID and c.TokenHash
	// (when set) are fresh random values, unique in practice.
	CreateChallenge(ctx context.Context, c *Challenge) error
	// Challenge returns the live challenge with id.
	Challenge(ctx context.Context, id string, now time.Time) (*Challenge, error)
	// ChallengeByToken returns the live challenge whose TokenHash is tokenHash.
	ChallengeByToken(ctx context.Context, tokenHash []byte, now time.Time) (*Challenge, error)
	// AttemptCode judges one code against the live challenge id, in one
	// atomic step. It compares the stored CodeHash with each candidate
	// (the same code hashed under the current and any previous secret).
	// A match consumes the challenge (Outcome Accepted). A miss counts one
	// attempt (Outcome Rejected, AttemptsLeft after it). A challenge that
	// already has maxAttempts attempts is not judged (Outcome Locked).
	AttemptCode(ctx context.Context, id string, candidates [][]byte, maxAttempts int, now time.Time) (Attempt, error)
	// ConsumeLink consumes the live challenge id if its TokenHash equals
	// tokenHash, atomically; else ErrNotFound.
	ConsumeLink(ctx context.Context, id string, tokenHash []byte, now time.Time) (*Challenge, error)
	// RenewChallenge replaces the code and link of the live challenge id,
	// resets its attempts and moves its expiry, in one atomic step; the old
	// code and link stop working. A challenge with maxAttempts attempts is
	// locked and is not renewed (ErrLocked).
	RenewChallenge(ctx context.Context, id string, r Renewal, maxAttempts int, now time.Time) (*Challenge, error)
}

// Outcome is the verdict of one code attempt.
type Outcome int

// The verdicts of AttemptCode.
const (
	Rejected Outcome = iota // wrong code, counted
	Accepted                // right code; the challenge is consumed
	Locked                  // too many wrong codes before; not judged
)

// Attempt is the result of AttemptCode.
type Attempt struct {
	Outcome      Outcome
	Challenge    *Challenge // the challenge as it was judged
	AttemptsLeft int        // after this attempt
}

// ErrLocked is returned by RenewChallenge for a locked challenge.
var ErrLocked = errors.New("challenge locked")

// SessionStore keeps signed-in sessions, indexed by user.
type SessionStore interface {
	// CreateSession stores s until s.Deadline().
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the live session with id.
	Session(ctx context.Context, id string, now time.Time) (*Session, error)
	// TouchSession records use of the live session id at lastSeen,
	// extending its idle deadline (never past its absolute expiry).
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	// DeleteSession removes one session; deleting a missing one is not an error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of userID and reports how many.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
}

// UserStore maps email addresses to users.
type UserStore interface {
	// EnsureUser returns the user with candidate.Email, creating it from
	// candidate if there is none. It is atomic: racing callers with
	// different candidate IDs all get the one stored user.
	EnsureUser(ctx context.Context, candidate User) (User, error)
}

// Limiter counts events in fixed windows. Keys are opaque to the limiter.
// Counts are shared by every replica that shares the backing store.
type Limiter interface {
	// Take records one event under key and reports the decision, including
	// this event. A call over the limit is still recorded.
	Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (Decision, error)
	// Peek reports whether one more event would be allowed and how many
	// remain, without recording anything (see PeekDecision).
	Peek(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (Decision, error)
}

// Decision is the state of one limit.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int
	// Reset is how long until the current window ends.
	Reset time.Duration
}

// WindowStart returns the start of the fixed window that holds now.
// Windows are aligned to the Unix epoch so replicas agree on them.
func WindowStart(now time.Time, window time.Duration) time.Time {
	return now.Truncate(window)
}

// NewDecision builds the decision for count events in the window holding now.
func NewDecision(count, limit int, window time.Duration, now time.Time) Decision {
	remaining := limit - count
	if remaining < 0 {
		remaining = 0
	}
	return Decision{
		Allowed:   count <= limit,
		Limit:     limit,
		Remaining: remaining,
		Reset:     WindowStart(now, window).Add(window).Sub(now),
	}
}

// PeekDecision builds the decision Peek reports when count events are
// recorded in the window holding now.
func PeekDecision(count, limit int, window time.Duration, now time.Time) Decision {
	d := NewDecision(count, limit, window, now)
	d.Allowed = count < limit
	return d
}

// Mailer hands a login email on for delivery. Implementations may deliver
// later (a durable queue), but must not lose a mail they accepted.
type Mailer interface {
	SendLogin(ctx context.Context, m *LoginMail) error
}

// LoginMail is the content of one login email before rendering.
type LoginMail struct {
	ChallengeID       string
	To                string
	Type              PasswordlessType
	Template          Template
	Code              string // empty when Type has no code
	Link              string // empty when Type has no link
	Expiry            time.Duration
	ExpiresAt         time.Time
	TemplateVariables map[string]string
	// Suppressed marks a mail to an address outside the allowed domains:
	// the engine hands it over anyway, without code or link, so that a
	// send costs the same work whoever asks (no timing oracle), and the
	// mailer drops it instead of delivering it.
	Suppressed bool
}

// LogValue keeps the code and link out of logs.
func (m LoginMail) LogValue() slog.Value {
	return slog.GroupValue(slog.String("challengeId", m.ChallengeID), slog.String("type", string(m.Type)))
}

// Clock tells the time. Tests inject a fixed one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Auditor receives the security-relevant events of the engine.
type Auditor interface {
	Audit(ctx context.Context, e Event)
}

// EventKind names an audit event.
type EventKind string

// The audit events.
const (
	EventLoginRequested   EventKind = "login_requested"
	EventCodeSent         EventKind = "code_sent"
	EventLoginSucceeded   EventKind = "login_succeeded"
	EventWrongCode        EventKind = "wrong_code"
	EventChallengeLocked  EventKind = "challenge_locked"
	EventRateLimited      EventKind = "rate_limited"
	EventLogout           EventKind = "logout"
	EventLogoutEverywhere EventKind = "logout_everywhere"
	// EventLoginFailed is a code or link that did not sign anyone in;
	// Reason says why (the error code: invalid_code, expired, ...).
	EventLoginFailed EventKind = "login_failed"
)

// Event is one audit record. Email is the normalized address; sinks mask it.
type Event struct {
	Kind        EventKind
	Email       string
	UserID      string
	ChallengeID string
	Method      string // "code" or "link" for logins; the limit's name for rate_limited
	Suppressed  bool   // the address is outside the allowed domains; no mail was sent
	Reason      Code   // why a login failed (EventLoginFailed)
}

type nopAuditor struct{}

func (nopAuditor) Audit(context.Context, Event) {}
