package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Sizes of the random values, in bytes.
const (
	challengeIDBytes  = 24
	linkTokenBytes    = 32
	bindingBytes      = 24
	sessionTokenBytes = 32
	userIDBytes       = 16
)

// Input limits, as in the contract.
const (
	MaxStateLength       = 1000
	MaxLinkURLLength     = 1000
	MaxChallengeIDLength = 200
	MaxLinkTokenLength   = 100
	MaxCodeLength        = 20
)

// Service is the passwordless engine. It is safe for concurrent use; all
// of its state lives in the Store and the Limiter.
type Service struct {
	cfg     Config
	store   Store
	limiter Limiter
	mailer  Mailer
	keys    *Keys
	clock   Clock
}

// NewService returns an engine with cfg's rules (defaults filled in).
func NewService(cfg Config, store Store, limiter Limiter, mailer Mailer) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Service{cfg: cfg, store: store, limiter: limiter, mailer: mailer, keys: cfg.Keys, clock: cfg.Clock}, nil
}

// Config returns the rules in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// SendRequest asks for a login email.
type SendRequest struct {
	Email      string
	State      string
	Template   string // "", SIGNIN or SIGNUP
	RedirectTo string // already checked by the transport
	// LinkURL overrides Config.LinkURL (the provider API's magiclink_auth_uri).
	LinkURL string
	// Expiry overrides Config.Expiry when not zero.
	Expiry            time.Duration
	TemplateVariables map[string]string
}

// Sent describes the challenge that a send or resend created.
type Sent struct {
	ChallengeID string
	Type        PasswordlessType
	ExpiresAt   time.Time
	Expiry      time.Duration
	// Binding is the secret the requesting browser keeps in a cookie; it
	// proves a magic link is opened where it was asked for. Empty on resend
	// (the browser keeps the one it has).
	Binding string
	// ResendAfter is how long until a resend will be accepted.
	ResendAfter time.Duration
}

// Send creates a challenge and emails its code and link. Every well-formed
// address gets the same answer, whether or not it may sign in.
func (s *Service) Send(ctx context.Context, req SendRequest) (*Sent, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	tmpl, err := ParseTemplate(req.Template)
	if err != nil {
		return nil, FieldError("template", "must be SIGNIN or SIGNUP")
	}
	if len(req.State) > MaxStateLength {
		return nil, FieldError("state", fmt.Sprintf("must be at most %d characters", MaxStateLength))
	}
	expiry := s.cfg.Expiry
	if req.Expiry > 0 {
		expiry = req.Expiry
	}
	linkURL := s.cfg.LinkURL
	if req.LinkURL != "" {
		linkURL = req.LinkURL
	}
	if s.cfg.Type.HasLink() && linkURL == "" {
		return nil, FieldError("magiclink_auth_uri", "is required")
	}
	now := s.clock.Now()
	if err := s.take(ctx, "send:"+s.keys.EmailKey(email), s.cfg.EmailSendLimit, s.cfg.EmailSendWindow, now, email); err != nil {
		return nil, err
	}

	id, err := randomToken(s.cfg.Random, challengeIDBytes)
	if err != nil {
		return nil, err
	}
	binding, err := randomToken(s.cfg.Random, bindingBytes)
	if err != nil {
		return nil, err
	}
	code, token, err := s.secrets(id)
	if err != nil {
		return nil, err
	}
	c := &Challenge{
		ID:                id,
		Email:             email,
		Type:              s.cfg.Type,
		Template:          tmpl,
		State:             req.State,
		RedirectTo:        req.RedirectTo,
		LinkURL:           linkURL,
		BindingHash:       s.keys.bindingHash(binding),
		TemplateVariables: req.TemplateVariables,
		CreatedAt:         now,
		SentAt:            now,
		ExpiresAt:         now.Add(expiry),
	}
	allowed := s.domainAllowed(email)
	s.setSecrets(c, code, token)
	if !allowed {
		// The hashes were computed, so the answer costs what any other
		// does, but nothing is stored that a guess could match.
		c.CodeHash, c.TokenHash = nil, nil
	}
	if err := s.store.CreateChallenge(ctx, c); err != nil {
		return nil, storeError("create challenge", err)
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginRequested, Email: email, ChallengeID: id, Suppressed: !allowed})
	if err := s.mail(ctx, c, code, token, !allowed); err != nil {
		return nil, err
	}
	return &Sent{ChallengeID: id, Type: c.Type, ExpiresAt: c.ExpiresAt, Expiry: expiry, Binding: binding, ResendAfter: s.cfg.ResendCooldown}, nil
}

// Resend emails a fresh code and link for the challenge id, keeping the id.
// The old code and link stop working and the expiry starts again.
func (s *Service) Resend(ctx context.Context, id string) (*Sent, error) {
	if err := checkChallengeID(id); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	c, err := s.store.Challenge(ctx, id, now)
	if err != nil {
		return nil, storeError("resend", err)
	}
	if wait := c.SentAt.Add(s.cfg.ResendCooldown).Sub(now); wait > 0 {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventRateLimited, Email: c.Email, ChallengeID: id, Method: "resend_cooldown"})
		return nil, RateLimited(wait)
	}
	if err := s.take(ctx, "send:"+s.keys.EmailKey(c.Email), s.cfg.EmailSendLimit, s.cfg.EmailSendWindow, now, c.Email); err != nil {
		return nil, err
	}
	code, token, err := s.secrets(id)
	if err != nil {
		return nil, err
	}
	expiry := c.ExpiresAt.Sub(c.SentAt)
	fresh := Challenge{ID: id}
	s.setSecrets(&fresh, code, token)
	r := Renewal{CodeHash: fresh.CodeHash, TokenHash: fresh.TokenHash, SentAt: now, ExpiresAt: now.Add(expiry)}
	if !s.domainAllowed(c.Email) {
		r.CodeHash, r.TokenHash = nil, nil
	}
	c, err = s.store.RenewChallenge(ctx, id, r, s.cfg.MaxAttempts, now)
	if err != nil {
		return nil, storeError("renew challenge", err)
	}
	if err := s.mail(ctx, c, code, token, !s.domainAllowed(c.Email)); err != nil {
		return nil, err
	}
	return &Sent{ChallengeID: id, Type: c.Type, ExpiresAt: c.ExpiresAt, Expiry: expiry, ResendAfter: s.cfg.ResendCooldown}, nil
}

// Login is a verified proof of an email address.
type Login struct {
	User        User
	ChallengeID string
	Type        PasswordlessType
	Template    Template
	State       string
	RedirectTo  string
	Method      string // "code" or "link"
}

// VerifyCode checks a code against the challenge id. A right code
// consumes the challenge; a wrong one counts against both the challenge and
// the address.
func (s *Service) VerifyCode(ctx context.Context, id, code string) (_ *Login, err error) {
	defer s.countFailure(ctx, "code", id, &err)
	if err := checkChallengeID(id); err != nil {
		return nil, err
	}
	code, err = CleanCode(code)
	if err != nil {
		return nil, err
	}
	if !isDigits(code) || len(code) != s.cfg.CodeLength {
		return nil, Errorf(CodeInvalidCode, "The code is the %d digits from the email.", s.cfg.CodeLength)
	}
	now := s.clock.Now()
	c, err := s.store.Challenge(ctx, id, now)
	if err != nil {
		return nil, storeError("verify code", err)
	}
	if !c.Type.HasCode() {
		return nil, Errorf(CodeInvalidRequest, "This sign-in has no code; use the link in the email.")
	}
	failKey := "fail:" + s.keys.EmailKey(c.Email)
	d, err := s.limiter.Peek(ctx, failKey, s.cfg.EmailFailureLimit, s.cfg.EmailFailureWindow, now)
	if err != nil {
		return nil, storeError("check failures", err)
	}
	if !d.Allowed {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventRateLimited, Email: c.Email, ChallengeID: id, Method: "email_failures"})
		return nil, tooManyAttempts().WithDetail("retryAfter", Seconds(d.Reset))
	}
	a, err := s.store.AttemptCode(ctx, id, s.keys.codeHashes(id, code), s.cfg.MaxAttempts, now)
	if err != nil {
		return nil, storeError("attempt code", err)
	}
	switch a.Outcome {
	case Accepted:
		return s.login(ctx, a.Challenge, "code")
	case Locked:
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventChallengeLocked, Email: c.Email, ChallengeID: id})
		return nil, tooManyAttempts()
	}
	if _, err := s.limiter.Take(ctx, failKey, s.cfg.EmailFailureLimit, s.cfg.EmailFailureWindow, now); err != nil {
		return nil, storeError("count failure", err)
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventWrongCode, Email: c.Email, ChallengeID: id})
	if a.AttemptsLeft == 0 {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventChallengeLocked, Email: c.Email, ChallengeID: id})
	}
	msg := "That code is not right. Check the email and try again."
	if a.AttemptsLeft == 0 {
		msg = "That code is not right, and that was the last try. Request a new sign-in email."
	}
	return nil, Errorf(CodeInvalidCode, "%s", msg).WithDetail("attemptsRemaining", a.AttemptsLeft)
}

// LinkProof is what a browser presents with a magic link.
type LinkProof struct {
	Token       string
	ChallengeID string // optional; must match when given
	Binding     string // the requesting browser's cookie secret, if this is that browser
	// ServerSide marks a proof relayed by an app's server (the provider
	// API): there is no browser, so same-browser enforcement is the app's
	// business, not the engine's.
	ServerSide bool
}

// LinkStatus says what opening a magic link would do, without doing it.
type LinkStatus struct {
	Valid       bool
	SameBrowser bool // the proof carries the binding of the requesting browser
	// Allowed reports whether the link may complete here (false only when
	// same-browser links are enforced and this is another browser).
	Allowed bool
}

// InspectLink reports whether a magic link is usable, consuming nothing
// (mail scanners follow links).
func (s *Service) InspectLink(ctx context.Context, p LinkProof) (LinkStatus, error) {
	c, err := s.linkChallenge(ctx, p)
	if ErrorCode(err) == CodeExpired {
		return LinkStatus{}, nil
	}
	if err != nil {
		return LinkStatus{}, err
	}
	same := s.keys.bindingMatches(c.BindingHash, p.Binding)
	return LinkStatus{Valid: true, SameBrowser: same, Allowed: same || !s.cfg.SameBrowser}, nil
}

// ChallengePending reports whether the challenge id still waits for its
// code or link, asked by the browser whose binding secret (its
// latch_auth_request cookie) is binding. A challenge that was used,
// expired or never existed reports false, and so does one asked about
// with another browser's binding: a browser learns nothing of sign-ins
// but its own. It consumes and counts nothing (a login page polls it to
// notice that its link was used elsewhere).
func (s *Service) ChallengePending(ctx context.Context, id, binding string) (bool, error) {
	if checkChallengeID(id) != nil || binding == "" {
		return false, nil
	}
	c, err := s.store.Challenge(ctx, id, s.clock.Now())
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, storeError("find challenge", err)
	}
	return s.keys.bindingMatches(c.BindingHash, binding), nil
}

// VerifyLink consumes the challenge of a magic link.
func (s *Service) VerifyLink(ctx context.Context, p LinkProof) (_ *Login, err error) {
	defer s.countFailure(ctx, "link", p.ChallengeID, &err)
	c, err := s.linkChallenge(ctx, p)
	if err != nil {
		return nil, err
	}
	if s.cfg.SameBrowser && !p.ServerSide && !s.keys.bindingMatches(c.BindingHash, p.Binding) {
		return nil, Errorf(CodeDifferentBrowser, "This link works only in the browser where you asked for it. Type the code from the email instead.")
	}
	c, err = s.store.ConsumeLink(ctx, c.ID, c.TokenHash, s.clock.Now())
	if err != nil {
		return nil, storeError("consume link", err)
	}
	return s.login(ctx, c, "link")
}

func (s *Service) linkChallenge(ctx context.Context, p LinkProof) (*Challenge, error) {
	if p.Token == "" {
		return nil, FieldError("link_token", "is required")
	}
	if len(p.Token) > MaxLinkTokenLength || len(p.ChallengeID) > MaxChallengeIDLength {
		return nil, Errorf(CodeInvalidRequest, "The link is malformed.")
	}
	if !validToken(p.Token, linkTokenBytes) {
		return nil, expired()
	}
	now := s.clock.Now()
	for _, h := range s.keys.tokenHashes(p.Token) {
		c, err := s.store.ChallengeByToken(ctx, h, now)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, storeError("find link", err)
		}
		if p.ChallengeID != "" && p.ChallengeID != c.ID {
			return nil, expired()
		}
		return c, nil
	}
	return nil, expired()
}

// countFailure records a failed sign-in attempt by its reason, for the
// metrics; bad requests (invalid_request) and outages are not counted.
func (s *Service) countFailure(ctx context.Context, method, id string, errp *error) {
	switch code := ErrorCode(*errp); code {
	case CodeInvalidCode, CodeExpired, CodeTooManyAttempts, CodeDifferentBrowser:
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginFailed, Method: method, ChallengeID: id, Reason: code})
	}
}

func (s *Service) login(ctx context.Context, c *Challenge, method string) (*Login, error) {
	if !s.domainAllowed(c.Email) {
		// Unreachable while such challenges hold no hashes; kept so that
		// the allow-list never rests on one line alone.
		return nil, expired()
	}
	uid, err := randomToken(s.cfg.Random, userIDBytes)
	if err != nil {
		return nil, err
	}
	u, err := s.store.EnsureUser(ctx, User{ID: "usr_" + uid, Email: c.Email, CreatedAt: s.clock.Now()})
	if err != nil {
		return nil, storeError("ensure user", err)
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginSucceeded, Email: c.Email, UserID: u.ID, ChallengeID: c.ID, Method: method})
	return &Login{User: u, ChallengeID: c.ID, Type: c.Type, Template: c.Template, State: c.State, RedirectTo: c.RedirectTo, Method: method}, nil
}

// StartSession opens a new session for u and returns its token, which only
// the caller ever sees. Every login gets a new token (no fixation).
func (s *Service) StartSession(ctx context.Context, u User) (string, *Session, error) {
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
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", nil, storeError("create session", err)
	}
	return token, sess, nil
}

// Authenticate returns the live session of token. It records use at most
// once a minute, so the common case is a single store read.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, error) {
	if !validToken(token, sessionTokenBytes) {
		return nil, unauthorized()
	}
	now := s.clock.Now()
	sess, err := s.store.Session(ctx, SessionID(token), now)
	if errors.Is(err, ErrNotFound) {
		return nil, unauthorized()
	}
	if err != nil {
		return nil, storeError("find session", err)
	}
	if now.Sub(sess.LastSeenAt) >= s.touchInterval() {
		// A failed touch only shortens the idle deadline; the read succeeded.
		if err := s.store.TouchSession(ctx, sess.ID, now); err == nil {
			sess.LastSeenAt = now
		}
	}
	return sess, nil
}

func (s *Service) touchInterval() time.Duration {
	return min(s.cfg.SessionIdleTimeout/20, time.Minute)
}

// Logout ends the session of token, or every session of its user.
func (s *Service) Logout(ctx context.Context, token string, everywhere bool) error {
	sess, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	if everywhere {
		if _, err := s.store.DeleteUserSessions(ctx, sess.UserID); err != nil {
			return storeError("delete sessions", err)
		}
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLogoutEverywhere, Email: sess.Email, UserID: sess.UserID})
		return nil
	}
	if err := s.store.DeleteSession(ctx, sess.ID); err != nil {
		return storeError("delete session", err)
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLogout, Email: sess.Email, UserID: sess.UserID})
	return nil
}

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

func (s *Service) secrets(id string) (code, token string, err error) {
	if s.cfg.Type.HasCode() {
		if code, err = randomCode(s.cfg.Random, s.cfg.CodeLength); err != nil {
			return "", "", err
		}
	}
	if s.cfg.Type.HasLink() {
		if token, err = randomToken(s.cfg.Random, linkTokenBytes); err != nil {
			return "", "", err
		}
	}
	return code, token, nil
}

func (s *Service) setSecrets(c *Challenge, code, token string) {
	if code != "" {
		c.CodeHash = s.keys.codeHash(c.ID, code)
	}
	if token != "" {
		c.TokenHash = s.keys.tokenHash(token)
	}
}

// mail hands the login mail to the Mailer. A suppressed mail (an address
// outside the allowed domains) goes the same way without code or link,
// and the Mailer drops it.
func (s *Service) mail(ctx context.Context, c *Challenge, code, token string, suppressed bool) error {
	if suppressed {
		code, token = "", ""
	}
	m := &LoginMail{
		Suppressed:        suppressed,
		ChallengeID:       c.ID,
		To:                c.Email,
		Type:              c.Type,
		Template:          c.Template,
		Code:              code,
		Expiry:            c.ExpiresAt.Sub(c.SentAt),
		ExpiresAt:         c.ExpiresAt,
		TemplateVariables: c.TemplateVariables,
	}
	if token != "" {
		m.Link = linkWithToken(c.LinkURL, token, c.ID)
	}
	if err := s.mailer.SendLogin(ctx, m); err != nil {
		if ErrorCode(err) != CodeInternal {
			return err
		}
		return Unavailable("queue mail", err)
	}
	if !suppressed {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventCodeSent, Email: c.Email, ChallengeID: c.ID})
	}
	return nil
}

// linkWithToken appends link_token and auth_request_id to base, keeping
// any query base already has.
func linkWithToken(base, token, id string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("link_token", token)
	q.Set("auth_request_id", id)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Service) domainAllowed(email string) bool {
	return len(s.cfg.AllowedDomains) == 0 || slices.Contains(s.cfg.AllowedDomains, EmailDomain(email))
}

func (s *Service) take(ctx context.Context, key string, limit int, window time.Duration, now time.Time, email string) error {
	d, err := s.limiter.Take(ctx, key, limit, window, now)
	if err != nil {
		return storeError("rate limit", err)
	}
	if !d.Allowed {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventRateLimited, Email: email, Method: "email_send"})
		return RateLimited(d.Reset)
	}
	return nil
}

// CleanCode removes the spaces and hyphens people type or paste inside a
// code and checks that something of a sane length is left.
func CleanCode(raw string) (string, error) {
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(raw))
	switch {
	case code == "":
		return "", FieldError("code", "is required")
	case len(code) > MaxCodeLength:
		return "", FieldError("code", fmt.Sprintf("must be at most %d characters", MaxCodeLength))
	}
	return code, nil
}

// RequireChallengeID checks that an auth request id is present and not
// too long; what it must look like is the issuer's business.
func RequireChallengeID(id string) error {
	switch {
	case id == "":
		return FieldError("authRequestId", "is required")
	case len(id) > MaxChallengeIDLength:
		return FieldError("authRequestId", fmt.Sprintf("must be at most %d characters", MaxChallengeIDLength))
	}
	return nil
}

func checkChallengeID(id string) error {
	if err := RequireChallengeID(id); err != nil {
		return err
	}
	if !validToken(id, challengeIDBytes) {
		return expired()
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// storeError turns ErrNotFound into the expired error a caller should see
// and wraps anything else once with the operation.
func storeError(op string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return expired()
	}
	if errors.Is(err, ErrLocked) {
		return tooManyAttempts()
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("auth: %s: %w", op, err)
}

// FieldError is an invalid_request error naming one field and its problem
// in details.fields.
func FieldError(field, problem string) *Error {
	return Errorf(CodeInvalidRequest, "The request has a problem: %s %s.", field, problem).
		WithDetail("fields", map[string]string{field: problem})
}

func expired() *Error {
	return Errorf(CodeExpired, "This sign-in has expired or was already used. Request a new email.")
}

func tooManyAttempts() *Error {
	return Errorf(CodeTooManyAttempts, "Too many wrong codes. Request a new sign-in email.")
}

func unauthorized() *Error { return Errorf(CodeUnauthorized, "You are not signed in.") }

// RateLimited is the rate_limited error for a wait, with retryAfter in
// its details (transports turn it into Retry-After).
func RateLimited(wait time.Duration) *Error {
	return Errorf(CodeRateLimited, "Too many requests. Try again in %d seconds.", Seconds(wait)).
		WithDetail("retryAfter", Seconds(wait))
}

// Seconds rounds d up to whole seconds, at least 1: what Retry-After and
// countdowns show.
func Seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
