package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Config holds the rules of a login. Zero fields take the defaults listed
// beside them (see WithDefaults).
type Config struct {
	Type        PasswordlessType // LINK_OTP
	Expiry      time.Duration    // 5m: how long a code and link stay valid
	CodeLength  int              // 6 digits
	MaxAttempts int              // 5 wrong codes lock a challenge
	// EmailFailureLimit caps wrong codes per address across all its
	// challenges within EmailFailureWindow, so opening many challenges does
	// not multiply guesses. Default 3×MaxAttempts per 15m.
	EmailFailureLimit  int
	EmailFailureWindow time.Duration
	// EmailSendLimit caps sends and resends per address per EmailSendWindow
	// (2 per minute).
	EmailSendLimit  int
	EmailSendWindow time.Duration
	// ResendCooldown is the shortest time between two emails of one
	// challenge (30s).
	ResendCooldown time.Duration
	// SameBrowser makes a magic link work only in the browser that asked
	// for it; elsewhere the person types the code.
	SameBrowser bool
	// AllowedDomains, when not empty, restricts who receives mail. Other
	// addresses get the same answer and no mail.
	AllowedDomains []string
	// LinkURL is where magic links point, e.g.
	// https://login.example.com/api/auth/passwordless/verify.
	LinkURL            string
	SessionIdleTimeout time.Duration // 4h
	SessionLifetime    time.Duration // 7 days

	Keys    *Keys     // required
	Clock   Clock     // SystemClock
	Random  io.Reader // crypto/rand.Reader
	Auditor Auditor   // none
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
	if c.EmailFailureLimit == 0 {
		c.EmailFailureLimit = 3 * c.MaxAttempts
	}
	def(&c.EmailFailureWindow, 15*time.Minute)
	if c.EmailSendLimit == 0 {
		c.EmailSendLimit = 2
	}
	def(&c.EmailSendWindow, time.Minute)
	def(&c.ResendCooldown, 30*time.Second)
	def(&c.SessionIdleTimeout, 4*time.Hour)
	def(&c.SessionLifetime, 7*24*time.Hour)
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Random == nil {
		c.Random = rand.Reader
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
	return errors.Join(errs...)
}
