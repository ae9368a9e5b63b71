// Package forwardauth is Latch's face to reverse proxies: nginx's
// auth_request, Traefik's ForwardAuth and Caddy's forward_auth ask it, for
// every request to an app behind them, whether the person may pass and
// who they are, and the access rules of ACCESS_RULES_FILE decide.
package forwardauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// The identity headers of a 200. Every one is always sent, empty when
// unknown, so that a proxy which copies only the headers present in the
// answer can never let a client's own Remote-Email through.
const (
	HeaderUser   = "Remote-User"
	HeaderEmail  = "Remote-Email"
	HeaderGroups = "Remote-Groups"
)

// sessionCookie is the session cookie of the HTTP contract.
const sessionCookie = "latch_session"

// Sessions finds the live session of a cookie token or of a session ID;
// *auth.Service implements it. Both answer an *auth.Error with
// auth.CodeUnauthorized for no live session.
type Sessions interface {
	Authenticate(ctx context.Context, token string) (*auth.Session, error)
	SessionByID(ctx context.Context, id string) (*auth.Session, error)
}

// Users returns a user by ID (auth.ErrNotFound when there is none);
// *auth.Service implements it.
type Users interface {
	User(ctx context.Context, id string) (*auth.User, error)
}

// BearerVerifier checks a JWT access token of Latch's (signature, issuer,
// audience, expiry) and returns its subject and session. Any error means
// the token is not accepted. The session is then looked up, so a token
// whose session has ended is refused although its signature still holds.
type BearerVerifier interface {
	VerifyAccess(ctx context.Context, raw string) (userID, sessionID string, err error)
}

// Config is the forward-auth share of the configuration.
type Config struct {
	// BaseURL is Latch's public URL; the login page is BaseURL/login.
	BaseURL *url.URL
	// Proxies decides whose X-Forwarded-* and X-Original-URL headers are
	// believed (TRUSTED_PROXIES).
	Proxies Proxies
	// GroupsTTL is how long a user's groups are reused before they are
	// read again (default 5s): a change of groups takes effect within it.
	GroupsTTL time.Duration
}

// Deps are the parts forward-auth asks.
type Deps struct {
	Rules    *RuleFile
	Sessions Sessions
	Users    Users
	// Bearer, when set, accepts Authorization: Bearer <access token> in
	// place of the session cookie.
	Bearer BearerVerifier
	Clock  auth.Clock
	Logger *slog.Logger
}

// Handler answers the proxies' questions.
type Handler struct {
	cfg        Config
	rules      *RuleFile
	sessions   Sessions
	bearer     BearerVerifier
	groups     *groupCache
	log        *slog.Logger
	warnedPeer atomic.Bool
}

// New builds the handler.
func New(cfg Config, d Deps) (*Handler, error) {
	if cfg.BaseURL == nil {
		return nil, errors.New("forwardauth: BaseURL is required")
	}
	if d.Rules == nil {
		d.Rules, _ = OpenRules("")
	}
	if d.Clock == nil {
		d.Clock = auth.SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if cfg.GroupsTTL <= 0 {
		cfg.GroupsTTL = 5 * time.Second
	}
	return &Handler{
		cfg: cfg, rules: d.Rules, sessions: d.Sessions, bearer: d.Bearer, log: d.Logger,
		groups: newGroupCache(d.Users, d.Clock, cfg.GroupsTTL),
	}, nil
}

// ForwardAuth answers GET /api/authz/forward-auth (Traefik, Caddy): 200
// with the identity headers, or for a person who is not signed in a 302
// to the login page (a browser: Accept names text/html) or 401 (anything
// else), or 403 for one who is signed in but not allowed. A returned
// error is the answer, for the caller to write in the contract's shape.
func (h *Handler) ForwardAuth(w http.ResponseWriter, r *http.Request) error {
	orig := h.forwarded(r)
	err := h.answer(w, r, orig)
	if auth.ErrorCode(err) == auth.CodeUnauthorized && isBrowser(r) {
		http.Redirect(w, r, h.loginURL(orig), http.StatusFound)
		return nil
	}
	return err
}

// AuthRequest answers GET /api/authz/auth-request (nginx auth_request),
// which reads the original URL from X-Original-URL (or the X-Forwarded-*
// set): 200 as ForwardAuth, 401 with Location naming the login page for
// a person who is not signed in (nginx turns it into a redirect), 403 for
// one who is not allowed.
func (h *Handler) AuthRequest(w http.ResponseWriter, r *http.Request) error {
	orig := h.originalURL(r)
	err := h.answer(w, r, orig)
	if auth.ErrorCode(err) == auth.CodeUnauthorized {
		w.Header().Set("Location", h.loginURL(orig))
	}
	return err
}

// Protects reports whether target is on a host with an access rule, so
// that /login may send a person there after signing in (rd). Behind an
// https BASE_URL only https targets count.
func (h *Handler) Protects(target *url.URL) bool {
	if target == nil || target.User != nil || !h.schemeAllowed(target.Scheme) {
		return false
	}
	return h.rules.Rules().Match(strings.TrimSuffix(strings.ToLower(target.Hostname()), ".")) != nil
}

// FormSources returns the Content-Security-Policy sources of the hosts
// with a rule (any port), for the form-action of the login pages: a form
// whose answer redirects to a protected host must be allowed to.
func (h *Handler) FormSources() []string {
	var out []string
	for _, host := range h.rules.Rules().Hosts() {
		out = append(out, "https://"+host+":*")
		if h.cfg.BaseURL.Scheme == "http" {
			out = append(out, "http://"+host+":*")
		}
	}
	return out
}

func (h *Handler) schemeAllowed(scheme string) bool {
	return scheme == "https" || (scheme == "http" && h.cfg.BaseURL.Scheme == "http")
}

// answer judges the request for orig and writes the identity headers when
// it is allowed.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, orig *url.URL) error {
	if orig == nil {
		return h.unknownSite(r)
	}
	host := strings.TrimSuffix(strings.ToLower(orig.Hostname()), ".")
	rule := h.rules.Rules().Match(host)
	if rule == nil {
		// No rule, no entry, signed in or not: sending the person to sign
		// in first would only bring them back to this answer.
		e := auth.Errorf(auth.CodeForbidden, "%s is not behind Latch: it has no access rule.", host)
		e.Details = map[string]any{"host": host} // for the page in the person's language
		return e
	}
	sess, err := h.session(r)
	if err != nil {
		return err
	}
	groups, err := h.groups.get(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	if !rule.Allow.Permits(sess.Email, groups) {
		e := auth.Errorf(auth.CodeForbidden, "You are signed in as %s, who may not use %s.", sess.Email, host)
		e.Details = map[string]any{"email": sess.Email, "host": host} // for the page in the person's language
		return e
	}
	hd := w.Header()
	hd.Set(HeaderUser, sess.UserID)
	hd.Set(HeaderEmail, sess.Email)
	hd.Set(HeaderGroups, strings.Join(groups, ","))
	w.WriteHeader(http.StatusOK)
	return nil
}

// session finds who asks: an access token when a verifier is wired and
// one is sent, else (or when it is refused) the session cookie.
func (h *Handler) session(r *http.Request) (*auth.Session, error) {
	if raw, ok := bearerToken(r); ok && h.bearer != nil {
		sess, err := h.bearerSession(r.Context(), raw)
		if err == nil || !hasCookie(r) {
			return sess, err
		}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, auth.Errorf(auth.CodeUnauthorized, "Sign in first.")
	}
	return h.sessions.Authenticate(r.Context(), c.Value)
}

func (h *Handler) bearerSession(ctx context.Context, raw string) (*auth.Session, error) {
	uid, sid, err := h.bearer.VerifyAccess(ctx, raw)
	if err != nil {
		return nil, auth.Errorf(auth.CodeUnauthorized, "The access token is not valid.")
	}
	sess, err := h.sessions.SessionByID(ctx, sid)
	if err != nil {
		return nil, err
	}
	if sess.UserID != uid {
		return nil, auth.Errorf(auth.CodeUnauthorized, "The access token is not valid.")
	}
	return sess, nil
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return "", false
	}
	return strings.TrimSpace(raw), true
}

func hasCookie(r *http.Request) bool {
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

// isBrowser tells a person's browser from an API client by what it
// accepts (never by User-Agent): browsers ask for text/html when they
// navigate; fetch, curl and WebSocket upgrades do not.
func isBrowser(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// loginURL is BASE_URL/login, with rd naming the original URL when it is
// known and short enough to carry.
func (h *Handler) loginURL(orig *url.URL) string {
	login := strings.TrimSuffix(h.cfg.BaseURL.String(), "/") + "/login"
	if orig == nil {
		return login
	}
	if s := orig.String(); len(s) <= maxURL {
		return login + "?rd=" + url.QueryEscape(s)
	}
	return login
}

// unknownSite answers a request whose original URL could not be told: the
// asking proxy is not trusted, or sent no usable headers.
func (h *Handler) unknownSite(r *http.Request) error {
	if !h.cfg.Proxies.Trusts(r.RemoteAddr) {
		if h.warnedPeer.CompareAndSwap(false, true) {
			h.log.WarnContext(r.Context(), "forward-auth: asked by a peer outside TRUSTED_PROXIES, whose X-Forwarded-* headers are not believed; every such request is denied",
				"peer", r.RemoteAddr)
		}
		return auth.Errorf(auth.CodeForbidden, "Latch cannot tell which site this is for: the proxy that asked is not in TRUSTED_PROXIES.")
	}
	return auth.Errorf(auth.CodeForbidden, "Latch cannot tell which site this is for: the proxy sent no usable X-Forwarded-Host (or X-Original-URL).")
}
