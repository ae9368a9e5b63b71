package auth

import (
	"fmt"
	"log/slog"
	"time"
)

// PasswordlessType says what one login email carries.
type PasswordlessType string

// The passwordless types, named as Scalekit names them.
const (
	TypeLinkOTP PasswordlessType = "LINK_OTP" // a code and a magic link
	TypeOTP     PasswordlessType = "OTP"      // a code only
	TypeLink    PasswordlessType = "LINK"     // a magic link only
)

// ParsePasswordlessType accepts the three names of the contract.
func ParsePasswordlessType(s string) (PasswordlessType, error) {
	switch t := PasswordlessType(s); t {
	case TypeLinkOTP, TypeOTP, TypeLink:
		return t, nil
	}
	return "", fmt.Errorf("passwordless type %q is not one of LINK_OTP, OTP, LINK", s)
}

// HasCode reports whether logins of this type carry a one-time code.
func (t PasswordlessType) HasCode() bool { return t == TypeLinkOTP || t == TypeOTP }

// HasLink reports whether logins of this type carry a magic link.
func (t PasswordlessType) HasLink() bool { return t == TypeLinkOTP || t == TypeLink }

// Template picks the wording of the login email.
type Template string

// The email templates.
const (
	TemplateSignIn Template = "SIGNIN"
	TemplateSignUp Template = "SIGNUP"
)

// ParseTemplate accepts "", SIGNIN and SIGNUP; "" means SIGNIN.
func ParseTemplate(s string) (Template, error) {
	switch t := Template(s); t {
	case "":
		return TemplateSignIn, nil
	case TemplateSignIn, TemplateSignUp:
		return t, nil
	}
	return "", fmt.Errorf("template %q is not one of SIGNIN, SIGNUP", s)
}

// Challenge is one pending login: what was sent to whom, kept until it is
// used or expires. Only keyed hashes of the code, the link token and the
// browser binding are kept; the secrets themselves exist only in the email
// and the requesting browser's cookie.
type Challenge struct {
	ID          string
	Email       string
	Type        PasswordlessType
	Template    Template
	State       string
	RedirectTo  string
	LinkURL     string // where the magic link points (without its query)
	CodeHash    []byte // nil when the type has no code
	TokenHash   []byte // nil when the type has no link
	BindingHash []byte // hash of the requesting browser's cookie secret
	// Attempts counts wrong codes judged against the current code.
	Attempts int
	// UsedAt is when the challenge signed someone in; a used challenge is
	// kept, without hashes, until it expires, so that the browser that
	// asked can learn that it completed.
	UsedAt time.Time
	// ClientID is the provider-API client that created the challenge;
	// empty for Latch's own routes. Only that client may resend or verify.
	ClientID string
	// Requester names who asked for the mail (a network, or a client), for
	// the limits that key by requester; ReservedAt is when the send took
	// its unit of the requester's budget of unconfirmed mail.
	Requester  string
	ReservedAt time.Time
	// Locale is the language the mail was written in; a resend keeps it.
	Locale string
	// TemplateVariables are extra values for the email template (provider API).
	TemplateVariables map[string]string
	CreatedAt         time.Time
	SentAt            time.Time // last send or resend
	ExpiresAt         time.Time
}

// Live reports whether c can still be used at now.
func (c *Challenge) Live(now time.Time) bool { return c.UsedAt.IsZero() && now.Before(c.ExpiresAt) }

// LogValue keeps hashes out of logs.
func (c Challenge) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("type", string(c.Type)), slog.Time("expiresAt", c.ExpiresAt))
}

// User is a person known by an email address. ID is stable for the
// address, whatever the case it is typed in.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	CreatedAt    time.Time `json:"-"`
	LastSignInAt time.Time `json:"-"`
	// Disabled users cannot sign in; disabling ends their sessions.
	Disabled bool     `json:"-"`
	Groups   []string `json:"-"`
	// Metadata is a small JSON object the operator keeps with the user.
	Metadata string `json:"-"`
	// Locale is the language the person last chose.
	Locale string `json:"-"`
	// SignedOutAt is when every session of the user was last ended (sign
	// out everywhere, disabling, an operator's revoke): anything issued
	// before it (refresh tokens of the OpenID provider) is void.
	SignedOutAt time.Time `json:"-"`
}

// Session is a signed-in browser. ID is the hash of the token held in the
// cookie, never the token itself.
type Session struct {
	ID          string
	UserID      string
	Email       string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time     // absolute end of life
	IdleTimeout time.Duration // ends early after this long unused
	// Method is how the person proved who they are: code, link or passkey.
	Method string
	// Device and Network describe where the session was opened (a short
	// browser name and the client's network), for the account page.
	Device  string
	Network string
}

// Deadline is when s ends if it is not used again.
func (s *Session) Deadline() time.Time {
	idle := s.LastSeenAt.Add(s.IdleTimeout)
	if s.IdleTimeout > 0 && idle.Before(s.ExpiresAt) {
		return idle
	}
	return s.ExpiresAt
}

// Live reports whether s is valid at now.
func (s *Session) Live(now time.Time) bool { return now.Before(s.Deadline()) }

// LogValue keeps the session hash out of logs.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("userId", s.UserID))
}
