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

	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/vault"
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

// Service is the passwordless engine: it alone knows the rules of a login.
// It is safe for concurrent use; all of its state lives in the store.
type Service struct {
	cfg      Config
	store    kv.Store
	counters kv.Store // the requesters' budgets (Config.RequesterCounters)
	mailer   Mailer
	keys     *Keys
	vault    *vault.Vault
	clock    Clock
	upstream Upstream
}

// NewService returns an engine with cfg's rules (defaults filled in),
// keeping its records in store.
func NewService(cfg Config, store kv.Store, mailer Mailer) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	counters := cfg.RequesterCounters
	if counters == nil {
		counters = store
	}
	return &Service{
		cfg: cfg, store: store, counters: counters, mailer: mailer,
		keys: cfg.Keys, vault: cfg.Vault, clock: cfg.Clock, upstream: cfg.Upstream,
	}, nil
}

// Config returns the rules in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Caller says who asks, for the limits and for which challenges it may use.
type Caller struct {
	// Requester names the party that asks: the client's network on Latch's
	// own routes ("net:203.0.113.0/24"), the client on the provider API.
	Requester string
	// ClientID is the provider-API client that asks; empty on Latch's own
	// routes. A challenge is usable only by the caller that created it.
	ClientID string
}

// firstParty reports whether c is Latch's own login page or API.
func (c Caller) firstParty() bool { return c.ClientID == "" }

// SendRequest asks for a login email.
type SendRequest struct {
	Email      string
	State      string
	Template   string // "", SIGNIN or SIGNUP
	RedirectTo string // already checked by the transport
	// LinkURL overrides Config.LinkURL (the provider API's magiclink_auth_uri).
	LinkURL string
	// Expiry overrides Config.Expiry when not zero (at most MaxExpiry).
	Expiry            time.Duration
	TemplateVariables map[string]string
	// Locale is the language this request chose for the mail (ui_locales,
	// a locale field on send): it comes before the user's stored choice.
	Locale string
	// FallbackLocale is the language of the requesting browser
	// (Accept-Language), for when neither the request nor the user chose.
	FallbackLocale string
	Caller         Caller
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
		expiry = min(req.Expiry, s.cfg.MaxExpiry)
	}
	linkURL := s.cfg.LinkURL
	if req.LinkURL != "" {
		linkURL = req.LinkURL
	}
	if s.cfg.Type.HasLink() && linkURL == "" {
		return nil, FieldError("magiclink_auth_uri", "is required")
	}
	now := s.clock.Now()
	addr, err := s.addressKey(ctx, email)
	if err != nil {
		return nil, err
	}
	limits := s.sendLimits(addr, req.Caller.Requester)
	budget := s.upstream == nil && req.Caller.firstParty() && req.Caller.Requester != ""
	if budget {
		limits = append(limits, s.unconfirmedMailLimit(req.Caller.Requester))
	}
	held, err := s.reserve(ctx, now, email, RateLimited, limits...)
	if err != nil {
		return nil, err
	}
	if s.upstream != nil {
		return s.sendUpstream(ctx, req, email, tmpl, linkURL, expiry)
	}

	id, err := randomToken(s.cfg.Random, challengeIDBytes)
	if err != nil {
		return nil, err
	}
	binding, err := randomToken(s.cfg.Random, bindingBytes)
	if err != nil {
		return nil, err
	}
	code, token, err := s.secrets()
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
		ClientID:          req.Caller.ClientID,
		Requester:         req.Caller.Requester,
		CreatedAt:         now,
		SentAt:            now,
		ExpiresAt:         now.Add(expiry),
	}
	if budget {
		c.ReservedAt = held.at
	}
	allowed, stored, err := s.mayMail(ctx, email, now)
	if err != nil {
		return nil, err
	}
	c.Locale = mailLocale(req, stored)
	s.setSecrets(c, code, token)
	linkHash := c.TokenHash
	if !allowed {
		// The hashes were computed, so the answer costs what any other
		// does, but nothing is stored that a guess could match.
		c.CodeHash, c.TokenHash = nil, nil
	}
	if err := s.putChallenge(ctx, c, linkHash, now); err != nil {
		return nil, err
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginRequested, Email: email, ChallengeID: id, Suppressed: !allowed})
	if err := s.mail(ctx, c, code, token, !allowed); err != nil {
		return nil, err
	}
	return &Sent{ChallengeID: id, Type: c.Type, ExpiresAt: c.ExpiresAt, Expiry: expiry, Binding: binding, ResendAfter: s.resendAfter(req.Caller)}, nil
}

// resendAfter is the cooldown between two mails of one challenge: on
// Latch's own login page only. The provider face behaves as Scalekit
// documents it, with only the per-address limit.
func (s *Service) resendAfter(caller Caller) time.Duration {
	if caller.firstParty() {
		return s.cfg.ResendCooldown
	}
	return 0
}

// Resend emails a fresh code and link for the challenge id, keeping the id.
// The old code and link stop working and the expiry starts again.
func (s *Service) Resend(ctx context.Context, id string, caller Caller) (*Sent, error) {
	if s.upstream != nil {
		return s.resendUpstream(ctx, id, caller)
	}
	if err := checkChallengeID(id); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	c, err := s.liveChallenge(ctx, id, caller, now)
	if err != nil {
		return nil, storeError("resend", err)
	}
	if c.Attempts >= s.cfg.MaxAttempts {
		return nil, tooManyAttempts()
	}
	if wait := c.SentAt.Add(s.resendAfter(caller)).Sub(now); wait > 0 {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventRateLimited, Email: c.Email, ChallengeID: id, Method: "resend_cooldown"})
		return nil, RateLimited(wait)
	}
	addr, err := s.addressKey(ctx, c.Email)
	if err != nil {
		return nil, err
	}
	if _, err := s.reserve(ctx, now, c.Email, RateLimited, s.sendLimits(addr, caller.Requester)...); err != nil {
		return nil, err
	}
	code, token, err := s.secrets()
	if err != nil {
		return nil, err
	}
	expiry := c.ExpiresAt.Sub(c.SentAt)
	fresh := &Challenge{ID: id, SentAt: now, ExpiresAt: now.Add(expiry)}
	s.setSecrets(fresh, code, token)
	allowed, _, err := s.mayMail(ctx, c.Email, now)
	if err != nil {
		return nil, err
	}
	if !allowed {
		fresh.CodeHash, fresh.TokenHash = nil, nil
	}
	c, err = s.renewChallenge(ctx, id, caller, fresh, now)
	if err != nil {
		return nil, storeError("renew challenge", err)
	}
	if err := s.mail(ctx, c, code, token, !allowed); err != nil {
		return nil, err
	}
	return &Sent{ChallengeID: id, Type: c.Type, ExpiresAt: c.ExpiresAt, Expiry: expiry, ResendAfter: s.resendAfter(caller)}, nil
}

// Login is a verified proof of an email address.
type Login struct {
	// User is the account; its Email is the address as typed for this
	// sign-in (the account may have been created with another spelling).
	User        User
	ChallengeID string
	Type        PasswordlessType
	Template    Template
	State       string
	RedirectTo  string
	Method      string // "code" or "link"
}

// VerifyCode checks a code against the challenge id. A right code uses
// the challenge; a wrong one counts against the challenge, the address
// and the requester. Each wrong code takes its unit of the caps before it
// is judged, so racing guesses cannot pass them.
func (s *Service) VerifyCode(ctx context.Context, id, code string, caller Caller) (_ *Login, err error) {
	defer s.countFailure(ctx, "code", id, &err)
	if s.upstream != nil {
		return s.verifyUpstream(ctx, id, code, "", caller)
	}
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
	c, err := s.liveChallenge(ctx, id, caller, now)
	if err != nil {
		return nil, storeError("verify code", err)
	}
	if !c.Type.HasCode() {
		return nil, Errorf(CodeInvalidRequest, "This sign-in has no code; use the link in the email.")
	}
	if c.Attempts >= s.cfg.MaxAttempts {
		return nil, tooManyAttempts()
	}
	addr, err := s.addressKey(ctx, c.Email)
	if err != nil {
		return nil, err
	}
	held, err := s.reserve(ctx, now, c.Email, func(wait time.Duration) *Error {
		return tooManyAttempts().WithDetail("retryAfter", Seconds(wait))
	}, s.failureLimits(addr, c)...)
	if err != nil {
		return nil, err
	}
	verdict, c, err := s.attemptCode(ctx, id, caller, s.keys.codeHashes(id, code), now)
	if err != nil {
		s.release(ctx, held)
		return nil, storeError("attempt code", err)
	}
	switch verdict {
	case accepted:
		s.release(ctx, held)
		return s.login(ctx, c, "code")
	case locked:
		s.release(ctx, held)
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventChallengeLocked, Email: c.Email, ChallengeID: id})
		return nil, tooManyAttempts()
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventWrongCode, Email: c.Email, ChallengeID: id})
	left := s.cfg.MaxAttempts - c.Attempts
	if left == 0 {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventChallengeLocked, Email: c.Email, ChallengeID: id})
	}
	msg := "That code is not right. Check the email and try again."
	if left == 0 {
		msg = "That code is not right, and that was the last try. Request a new sign-in email."
	}
	return nil, Errorf(CodeInvalidCode, "%s", msg).WithDetail("attemptsRemaining", left)
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
	Caller     Caller
}

// LinkStatus says what opening a magic link would do, without doing it.
type LinkStatus struct {
	Valid       bool
	SameBrowser bool // the proof carries the binding of the requesting browser
	// Allowed reports whether the link may complete here (false only when
	// same-browser links are enforced and this is another browser).
	Allowed bool
	// Email is the address the link signs in (for the confirm page to
	// show, masked); empty when not known.
	Email string
	// Locale is the language the mail was written in, so the confirm
	// page speaks it too; empty when not known.
	Locale string
}

// InspectLink reports whether a magic link is usable, consuming nothing
// (mail scanners follow links).
func (s *Service) InspectLink(ctx context.Context, p LinkProof) (LinkStatus, error) {
	if s.upstream != nil {
		return s.inspectUpstream(p), nil
	}
	c, err := s.linkChallenge(ctx, p)
	if ErrorCode(err) == CodeExpired {
		return LinkStatus{}, nil
	}
	if err != nil {
		return LinkStatus{}, err
	}
	same := s.keys.bindingMatches(c.BindingHash, p.Binding)
	return LinkStatus{Valid: true, SameBrowser: same, Allowed: same || !s.cfg.SameBrowser, Email: c.Email, Locale: c.Locale}, nil
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
	st, err := s.Status(ctx, id, binding)
	if ErrorCode(err) == CodeExpired {
		return false, nil
	}
	return st.Pending, err
}

// VerifyLink uses the challenge of a magic link.
func (s *Service) VerifyLink(ctx context.Context, p LinkProof) (_ *Login, err error) {
	defer s.countFailure(ctx, "link", p.ChallengeID, &err)
	if s.upstream != nil {
		return s.verifyLinkUpstream(ctx, p)
	}
	c, err := s.linkChallenge(ctx, p)
	if err != nil {
		return nil, err
	}
	if s.cfg.SameBrowser && !p.ServerSide && !s.keys.bindingMatches(c.BindingHash, p.Binding) {
		return nil, differentBrowser()
	}
	c, err = s.consumeLink(ctx, c.ID, c.TokenHash, s.clock.Now())
	if err != nil {
		return nil, storeError("consume link", err)
	}
	return s.login(ctx, c, "link")
}

func (s *Service) linkChallenge(ctx context.Context, p LinkProof) (*Challenge, error) {
	if err := checkLinkProof(p); err != nil {
		return nil, err
	}
	if !validToken(p.Token, linkTokenBytes) {
		return nil, expired()
	}
	now := s.clock.Now()
	for _, h := range s.keys.tokenHashes(p.Token) {
		c, err := s.challengeByToken(ctx, h, now)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, storeError("find link", err)
		}
		if (p.ChallengeID != "" && p.ChallengeID != c.ID) || c.ClientID != p.Caller.ClientID {
			return nil, expired()
		}
		return c, nil
	}
	return nil, expired()
}

func checkLinkProof(p LinkProof) error {
	if p.Token == "" {
		return FieldError("link_token", "is required")
	}
	if len(p.Token) > MaxLinkTokenLength || len(p.ChallengeID) > MaxChallengeIDLength {
		return Errorf(CodeInvalidRequest, "The link is malformed.")
	}
	return nil
}

// ChallengeStatus is what the browser that asked for a mail may learn of
// its challenge: whether it is still pending, or was used (in another tab
// or on another device).
type ChallengeStatus struct {
	Pending bool
	Used    bool
}

// Status reports the state of challenge id to the browser holding
// binding; any other browser learns nothing (the answer is expired).
func (s *Service) Status(ctx context.Context, id, binding string) (ChallengeStatus, error) {
	if err := checkChallengeID(id); err != nil {
		return ChallengeStatus{}, err
	}
	now := s.clock.Now()
	c, err := s.challenge(ctx, id, now)
	if err != nil {
		return ChallengeStatus{}, storeError("challenge status", err)
	}
	if c.ClientID != "" || !s.keys.bindingMatches(c.BindingHash, binding) {
		return ChallengeStatus{}, expired()
	}
	return ChallengeStatus{Pending: c.Live(now), Used: !c.UsedAt.IsZero()}, nil
}

// countFailure records a failed sign-in attempt by its reason, for the
// metrics; bad requests (invalid_request) and outages are not counted.
func (s *Service) countFailure(ctx context.Context, method, id string, errp *error) {
	switch code := ErrorCode(*errp); code {
	case CodeInvalidCode, CodeExpired, CodeTooManyAttempts, CodeDifferentBrowser:
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginFailed, Method: method, ChallengeID: id, Reason: code})
	}
}

// login turns a used challenge into a signed-in user: the one place where
// users are created and successful sign-ins are audited, whoever judged
// the proof (this engine or an upstream provider).
func (s *Service) login(ctx context.Context, c *Challenge, method string) (*Login, error) {
	if !s.domainAllowed(c.Email) {
		// Unreachable while such challenges hold no hashes; kept so that
		// the allow-list never rests on one line alone.
		return nil, expired()
	}
	now := s.clock.Now()
	if !c.ReservedAt.IsZero() && c.ClientID == "" {
		// The mail reached someone who signed in: it no longer counts
		// against the requester's budget of unconfirmed mail.
		s.release(ctx, &reservation{at: c.ReservedAt, taken: []limit{s.unconfirmedMailLimit(c.Requester)}})
	}
	u, err := s.ensureUser(ctx, c.Email, s.cfg.Signup == SignupOpen, true, now)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Disabled {
		s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginFailed, Email: c.Email, UserID: u.ID, ChallengeID: c.ID, Method: method, Reason: CodeExpired})
		return nil, expired()
	}
	s.cfg.Auditor.Audit(ctx, Event{Kind: EventLoginSucceeded, Email: c.Email, UserID: u.ID, ChallengeID: c.ID, Method: method})
	signedIn := *u
	signedIn.Email = c.Email
	return &Login{User: signedIn, ChallengeID: c.ID, Type: c.Type, Template: c.Template, State: c.State, RedirectTo: c.RedirectTo, Method: method}, nil
}

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

func (s *Service) secrets() (code, token string, err error) {
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
		Locale:            c.Locale,
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

// mayMail reports whether a sign-in mail may go to email: its domain is
// allowed, and it belongs to a user who is not disabled, or anyone may
// sign up. Every address costs the same lookups whatever the answer, and
// the caller answers alike either way (no enumeration). locale is the
// language the user chose, if any.
func (s *Service) mayMail(ctx context.Context, email string, now time.Time) (allowed bool, locale string, err error) {
	u, err := s.userByEmail(ctx, email, now)
	switch {
	case errors.Is(err, ErrNotFound):
		// A known address costs two reads; so does an unknown one.
		s.store.Get(ctx, userKey("usr_none"), now)
		return s.domainAllowed(email) && s.cfg.Signup == SignupOpen, "", nil
	case err != nil:
		return false, "", storeError("find user", err)
	}
	return s.domainAllowed(email) && !u.Disabled, u.Locale, nil
}

func (s *Service) domainAllowed(email string) bool {
	return len(s.cfg.AllowedDomains) == 0 || slices.Contains(s.cfg.AllowedDomains, EmailDomain(email))
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

// storeError turns ErrNotFound into the expired error a caller should see,
// an unreachable store into unavailable, and wraps anything else once
// with the operation.
func storeError(op string, err error) error {
	var e *Error
	switch {
	case errors.Is(err, ErrNotFound):
		return expired()
	case errors.Is(err, errLocked):
		return tooManyAttempts()
	case errors.As(err, &e):
		return err
	case errors.Is(err, kv.ErrUnavailable):
		return Unavailable(op, err)
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

func differentBrowser() *Error {
	return Errorf(CodeDifferentBrowser, "This link works only in the browser where you asked for it. Type the code from the email instead.")
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
