package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/vault"
)

// Config holds the rules of a login. Zero fields take the defaults listed
// beside them (see WithDefaults).
type Config struct {
	Type        PasswordlessType // LINK_OTP
	Expiry      time.Duration    // 5m: how long a code and link stay valid
	CodeLength  int              // 6 digits
	MaxAttempts int              // 5 wrong codes lock a challenge
	// MaxExpiry caps an expiry a caller asks for (the provider API's
	// expires_in): 15m.
	MaxExpiry time.Duration
	// EmailFailureLimit caps wrong codes per address and requester across
	// all the address's challenges within EmailFailureWindow, so opening
	// many challenges does not multiply guesses. Default 3×MaxAttempts per
	// 15m. EmailFailureGlobalLimit caps them per address from everyone
	// (4×EmailFailureLimit).
	EmailFailureLimit       int
	EmailFailureGlobalLimit int
	EmailFailureWindow      time.Duration
	// EmailSendLimit caps sends and resends per address and requester per
	// EmailSendWindow (2 per minute); EmailSendGlobalLimit per address from
	// everyone (5×EmailSendLimit).
	EmailSendLimit       int
	EmailSendGlobalLimit int
	EmailSendWindow      time.Duration
	// RequesterFailureLimit caps wrong codes per requester across
	// addresses per EmailFailureWindow (200); RequesterMailLimit caps the
	// mails a requester asked for that have not (yet) led to a sign-in, per
	// RequesterMailWindow (150 per 15m). Negative turns either off.
	RequesterFailureLimit int
	RequesterMailLimit    int
	RequesterMailWindow   time.Duration
	// ResendCooldown is the shortest time between two emails of one
	// challenge (30s).
	ResendCooldown time.Duration
	// SameBrowser makes a magic link work only in the browser that asked
	// for it; elsewhere the person types the code.
	SameBrowser bool
	// AllowedDomains, when not empty, restricts who receives mail. Other
	// addresses get the same answer and no mail.
	AllowedDomains []string
	// Signup says who may become a user: anyone (open, the default), only
	// people an operator invited or added (invite), or nobody new
	// (closed). An address that may not sign up gets the answer a known
	// one gets, and no mail.
	Signup SignupMode
	// OnUserDeleted runs when a user is deleted, so that the packages that
	// keep records of their own (passkeys, consents, queued mail) remove
	// the person's data too. A failure is logged by the caller's Auditor
	// and does not stop the deletion.
	OnUserDeleted []func(ctx context.Context, userID string) error
	// LinkURL is where magic links point, e.g.
	// https://login.example.com/api/auth/passwordless/verify.
	LinkURL            string
	SessionIdleTimeout time.Duration // 4h
	SessionLifetime    time.Duration // 7 days

	Keys *Keys // required
	// Vault keeps the engine's own stable keys (required).
	Vault *vault.Vault
	// RequesterCounters keeps the requesters' budgets (RequesterFailureLimit,
	// RequesterMailLimit); default the engine's store. A single process on
	// a disk store may keep them in memory.
	RequesterCounters kv.Store
	// Upstream, when set, judges codes and links at another provider.
	Upstream Upstream
	Clock    Clock     // SystemClock
	Random   io.Reader // crypto/rand.Reader
	Auditor  Auditor   // none
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Type == "" {
		c.Type = TypeLinkOTP
	}
	def(&c.Expiry, 5*time.Minute)
	if c.CodeLength == 0 {
		c.CodeLength = 6
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	def(&c.MaxExpiry, 15*time.Minute)
	num := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	num(&c.EmailFailureLimit, 3*c.MaxAttempts)
	num(&c.EmailFailureGlobalLimit, 4*c.EmailFailureLimit)
	def(&c.EmailFailureWindow, 15*time.Minute)
	num(&c.EmailSendLimit, 2)
	num(&c.EmailSendGlobalLimit, 5*c.EmailSendLimit)
	def(&c.EmailSendWindow, time.Minute)
	num(&c.RequesterFailureLimit, 200)
	num(&c.RequesterMailLimit, 150)
	def(&c.RequesterMailWindow, 15*time.Minute)
	def(&c.ResendCooldown, 30*time.Second)
	def(&c.SessionIdleTimeout, 4*time.Hour)
	def(&c.SessionLifetime, 7*24*time.Hour)
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Random == nil {
		c.Random = rand.Reader
	}
	if c.Signup == "" {
		c.Signup = SignupOpen
	}
	if c.Auditor == nil {
		c.Auditor = nopAuditor{}
	}
	for i, d := range c.AllowedDomains {
		c.AllowedDomains[i] = strings.ToLower(strings.TrimSpace(d))
	}
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := ParsePasswordlessType(string(c.Type)); err != nil {
		errs = append(errs, err)
	}
	if c.Expiry < 30*time.Second || c.Expiry > 24*time.Hour {
		errs = append(errs, fmt.Errorf("expiry %s is outside 30s–24h", c.Expiry))
	}
	if c.CodeLength < 4 || c.CodeLength > 10 {
		errs = append(errs, fmt.Errorf("code length %d is outside 4–10", c.CodeLength))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("max attempts %d is outside 1–100", c.MaxAttempts))
	}
	if c.EmailSendLimit < 1 {
		errs = append(errs, fmt.Errorf("email send limit %d must be at least 1", c.EmailSendLimit))
	}
	if c.SessionIdleTimeout < 0 || c.SessionLifetime < time.Minute {
		errs = append(errs, errors.New("session lifetime must be at least 1m and the idle timeout not negative"))
	}
	if c.Type.HasLink() && c.LinkURL == "" {
		errs = append(errs, errors.New("a link URL is required when logins carry a magic link"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("keys are required"))
	}
	if _, err := ParseSignupMode(string(c.Signup)); err != nil {
		errs = append(errs, err)
	}
	if c.Vault == nil {
		errs = append(errs, errors.New("a vault is required"))
	}
	return errors.Join(errs...)
}

// SignupMode says who may become a user.
type SignupMode string

// The sign-up modes.
const (
	SignupOpen   SignupMode = "open"
	SignupInvite SignupMode = "invite"
	SignupClosed SignupMode = "closed"
)

// ParseSignupMode accepts open, invite and closed.
func ParseSignupMode(s string) (SignupMode, error) {
	switch m := SignupMode(s); m {
	case SignupOpen, SignupInvite, SignupClosed:
		return m, nil
	}
	return "", fmt.Errorf("sign-up mode %q is not one of open, invite, closed", s)
}
