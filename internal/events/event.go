package events

import (
	"encoding/json"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// Type names a webhook event (API.md).
type Type string

// The webhook events.
const (
	UserCreated    Type = "user.created"
	UserUpdated    Type = "user.updated"
	UserDeleted    Type = "user.deleted"
	SessionCreated Type = "session.created"
	SessionRevoked Type = "session.revoked"
	PasskeyAdded   Type = "passkey.added"
	PasskeyRemoved Type = "passkey.removed"
	LoginFailed    Type = "login.failed"
)

// Types is every webhook event type.
var Types = []Type{UserCreated, UserUpdated, UserDeleted, SessionCreated, SessionRevoked, PasskeyAdded, PasskeyRemoved, LoginFailed}

// kinds maps the engine's audit events to webhook types; the others
// (codes sent, rate limits, …) are not webhook events.
var kinds = map[auth.EventKind]Type{
	auth.EventUserCreated:    UserCreated,
	auth.EventUserUpdated:    UserUpdated,
	auth.EventUserDeleted:    UserDeleted,
	auth.EventSessionCreated: SessionCreated,
	auth.EventSessionRevoked: SessionRevoked,
	auth.EventPasskeyAdded:   PasskeyAdded,
	auth.EventPasskeyRemoved: PasskeyRemoved,
	auth.EventLoginFailed:    LoginFailed,
}

// Data is what an event says: ids, the address, and what changed. It
// never holds a code, a link, a token or a secret; empty fields are left
// out.
type Data struct {
	UserID    string `json:"userId,omitempty"`
	Email     string `json:"email,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
	// Method is how a session was created or a login failed: code, link
	// or passkey.
	Method string `json:"method,omitempty"`
	// PasskeyID names the passkey of passkey.added and passkey.removed,
	// as the account page and GET /api/auth/passkeys do.
	PasskeyID string `json:"passkeyId,omitempty"`
	// Changed is what a user.updated changed: disabled, enabled, groups,
	// metadata, locale.
	Changed string `json:"changed,omitempty"`
	// Reason is why a login failed: invalid_code, expired,
	// too_many_attempts, different_browser.
	Reason string `json:"reason,omitempty"`
}

// Body is a delivery's JSON body (Standard Webhooks).
type Body struct {
	Type      Type      `json:"type"`
	Timestamp time.Time `json:"timestamp"` // RFC 3339, UTC
	Data      Data      `json:"data"`
}

// FromAudit turns an audit event at time at into a webhook body, or
// reports false for an audit event that is no webhook event.
func FromAudit(e auth.Event, at time.Time) (Body, bool) {
	t, ok := kinds[e.Kind]
	if !ok {
		return Body{}, false
	}
	d := Data{UserID: e.UserID, Email: e.Email, SessionID: e.SessionID}
	switch t {
	case SessionCreated, LoginFailed:
		d.Method = e.Method
	case UserUpdated:
		d.Changed = e.Changed
	case PasskeyAdded, PasskeyRemoved:
		d.PasskeyID = e.Passkey
	}
	if t == LoginFailed {
		d.Reason = string(e.Reason)
	}
	return Body{Type: t, Timestamp: at.UTC(), Data: d}, true
}

// encode is the body as sent, fixed when the event is queued.
func (b Body) encode() ([]byte, error) { return json.Marshal(b) }
