package auth

import (
	"context"
	"log/slog"
	"time"
)

// LegacySource is a store that may still hold records in the layout of
// the release before this one (which kept one bucket or key family per
// record kind, and judged codes in the store). Upgrade reads them once.
type LegacySource interface {
	// Legacy returns the old records, or nil when there are none.
	Legacy(ctx context.Context) (*LegacyData, error)
	// DropLegacy removes the old records once they live on.
	DropLegacy(ctx context.Context) error
}

// LegacyData is what a store of the release before held.
type LegacyData struct {
	Challenges []*Challenge
	Sessions   []*Session
	Users      []User
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
	// Locale is the language to write the mail in ("" = the default).
	Locale string
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
	// The life of users and sessions, for the audit trail and webhooks.
	EventUserCreated    EventKind = "user_created"
	EventUserUpdated    EventKind = "user_updated"
	EventUserDeleted    EventKind = "user_deleted"
	EventSessionCreated EventKind = "session_created"
	EventSessionRevoked EventKind = "session_revoked"
	// A person added or removed a passkey (Event.Passkey names it).
	EventPasskeyAdded   EventKind = "passkey_added"
	EventPasskeyRemoved EventKind = "passkey_removed"
)

// Event is one audit record. Email is the normalized address; sinks mask it.
type Event struct {
	Kind        EventKind
	Email       string
	UserID      string
	ChallengeID string
	Method      string // "code", "link" or "passkey" for logins; the limit's name for rate_limited
	Suppressed  bool   // the address is outside the allowed domains; no mail was sent
	Reason      Code   // why a login failed (EventLoginFailed)
	SessionID   string // the session created or revoked
	// Changed names what an update changed: disabled, enabled, groups,
	// metadata, locale (EventUserUpdated).
	Changed string
	// Passkey is the id of the passkey added or removed (EventPasskeyAdded,
	// EventPasskeyRemoved), as the account page shows it.
	Passkey string
}

type nopAuditor struct{}

func (nopAuditor) Audit(context.Context, Event) {}
