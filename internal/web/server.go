// Package web is Latch's app-facing HTTP layer: the routes of the HTTP
// contract, the middleware chain, the one table from error code to
// status, and the server-rendered pages (login, magic-link confirm,
// account, development outbox).
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/rs/cors"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/mail/outbox"
	"github.com/latch-auth/latch/internal/metrics"
)

// Passwordless is what the app routes need from a login provider: the
// built-in engine (*auth.Service) or an upstream Scalekit-compatible
// provider. Errors are *auth.Error values with the contract's codes.
type Passwordless interface {
	Send(ctx context.Context, req auth.SendRequest) (*auth.Sent, error)
	Resend(ctx context.Context, id string, caller auth.Caller) (*auth.Sent, error)
	VerifyCode(ctx context.Context, id, code string, caller auth.Caller) (*auth.Login, error)
	VerifyLink(ctx context.Context, p auth.LinkProof) (*auth.Login, error)
	InspectLink(ctx context.Context, p auth.LinkProof) (auth.LinkStatus, error)
}

// Sessions keeps signed-in browsers; *auth.Service implements it.
type Sessions interface {
	StartSession(ctx context.Context, u auth.User, info ...auth.SessionInfo) (string, *auth.Session, error)
	// Sessions lists a user's live sessions, newest first.
	Sessions(ctx context.Context, userID string) ([]*auth.Session, error)
	// EndSessionOf ends one session of the user.
	EndSessionOf(ctx context.Context, userID, sessionID string) error
	// DeleteUser removes the person everywhere.
	DeleteUser(ctx context.Context, userID string) error
	Authenticate(ctx context.Context, token string) (*auth.Session, error)
	// SessionByID finds a live session by its ID (an access token's sid).
	SessionByID(ctx context.Context, id string) (*auth.Session, error)
	Logout(ctx context.Context, token string, everywhere bool) error
}

// Watcher tells a login page that waits for its email whether that
// sign-in is still pending; *auth.Service implements it. The contract is
// auth.Service.ChallengePending's: false for a used, expired or unknown
// challenge and for another browser's binding.
type Watcher interface {
	ChallengePending(ctx context.Context, id, binding string) (bool, error)
}

// Check is one readiness check.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Optional marks a part the server keeps serving without (mail is
	// queued durably while the relay is down): its failure answers
	// "degraded: <Fn's error>" and leaves readiness at 200, so the error's
	// text must be fit for anyone who can reach the probe.
	Optional bool
}

// Config is the web layer's share of the configuration.
type Config struct {
	Production bool
	BaseURL    *url.URL
	// AppURL is where people land after signing in: a path or an allowed URL.
	AppURL            string
	RedirectAllowlist []string
	CORSOrigins       []string
	TrustedProxies    []netip.Prefix
	RateLimitMax      int
	RateLimitWindow   time.Duration
	// AuthIPMax caps, per client IP and window, the requests that send
	// mail or judge a code or link.
	AuthIPMax    int
	CookieDomain string
	AppName      string
	AccentColor  string
	LogoURL      string
	// LogoFile is a local image (PNG, JPEG, GIF, WebP or SVG, at most
	// 512 KiB) read at start and served at /brand/logo, in place of LogoURL.
	LogoFile string
	// ResendCooldown is shown on the login page's resend countdown.
	ResendCooldown time.Duration
	// MetricsElsewhere leaves /metrics off this server (METRICS_ADDR).
	MetricsElsewhere bool
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	CodeLength   int
	// PasswordlessType is what sign-in emails carry (LINK_OTP by
	// default); the login page speaks of a code, a link or both.
	PasswordlessType auth.PasswordlessType
}

// Deps are the parts the web layer drives.
type Deps struct {
	Login    Passwordless
	Sessions Sessions
	// Watcher, when set, lets a waiting login page learn that its link
	// was used on another device. Nil (an upstream provider, whose
	// challenges Latch cannot see) leaves the page to notice a sign-in
	// by the session cookie a tab of the same browser set.
	Watcher Watcher
	// IPLimiter keeps the counters of the route limits (per client IP,
	// per API client).
	IPLimiter Limiter
	Clock     auth.Clock
	// Outbox is the development mail capture; nil disables /dev/outbox.
	Outbox  *outbox.Outbox
	Metrics *metrics.Metrics
	// Auditor receives the web layer's own security events (per-IP limits).
	Auditor auth.Auditor
	Logger  *slog.Logger
	Ready   []Check
	// Extra mounts more routes (the provider API) on the same mux, with
	// their rate limits.
	Extra func(mux *http.ServeMux, limits RouteLimits)
	// ForwardAuth, when set, answers reverse proxies under /api/authz/,
	// and /login may send people back to the hosts it protects.
	ForwardAuth ForwardAuth
	// Tokens, when set, serves the JWKS and POST /api/auth/token, and
	// lets GET /api/me accept a bearer access token.
	Tokens Tokens
	// Passkeys, when set, offers passkeys: sign-in on /login, and adding,
	// renaming and removing them on the account page.
	Passkeys Passkeys
	// Languages, when set, keeps the language a person picks on the
	// account page.
	Languages Languages
}

// Server serves the app routes.
type Server struct {
	cfg       Config
	login     Passwordless
	sessions  Sessions
	watcher   Watcher
	forward   ForwardAuth
	limiter   Limiter
	clock     auth.Clock
	outbox    *outbox.Outbox
	metrics   *metrics.Metrics
	auditor   auth.Auditor
	log       *slog.Logger
	ready     []Check
	redirects redirectPolicy
	appURL    string
	pages     *pages
	handler   http.Handler
	tokens    Tokens
	passkeys  Passkeys
	languages Languages
}

// New builds the server and its middleware chain.
func New(cfg Config, d Deps) (*Server, error) {
	if cfg.BaseURL == nil {
		return nil, errors.New("web: Config.BaseURL is required")
	}
	if cfg.AppName == "" {
		cfg.AppName = "Latch"
	}
	if cfg.CodeLength == 0 {
		cfg.CodeLength = 6
	}
	if cfg.PasswordlessType == "" {
		cfg.PasswordlessType = auth.TypeLinkOTP
	}
	if d.Clock == nil {
		d.Clock = auth.SystemClock{}
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if cfg.Production {
		// The outbox shows codes and links: never served in production,
		// whatever the caller wired.
		d.Outbox = nil
	}
	if d.Outbox != nil && !isLoopbackHost(cfg.BaseURL.Hostname()) {
		return nil, fmt.Errorf("web: the dev outbox needs a loopback BaseURL, not %q: it shows every code and link", cfg.BaseURL.Hostname())
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(metrics.Build{})
	}
	if d.Auditor == nil {
		d.Auditor = d.Metrics
	}
	rp, err := newRedirectPolicy(cfg.RedirectAllowlist)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if d.ForwardAuth != nil {
		rp.protected = d.ForwardAuth.Protects
	}
	s := &Server{
		cfg: cfg, login: d.Login, sessions: d.Sessions, watcher: d.Watcher, forward: d.ForwardAuth, limiter: d.IPLimiter, clock: d.Clock,
		outbox: d.Outbox, metrics: d.Metrics, auditor: d.Auditor, log: d.Logger, ready: d.Ready, redirects: rp,
		tokens: d.Tokens, passkeys: d.Passkeys, languages: d.Languages,
	}
	if cfg.AppURL == "" {
		cfg.AppURL = "/"
	}
	if s.appURL, err = rp.Check(cfg.AppURL); err != nil {
		return nil, fmt.Errorf("web: APP_URL %q is neither a local path nor on the redirect allow-list", cfg.AppURL)
	}
	if s.pages, err = newPages(cfg); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	s.routes(mux)
	if d.Extra != nil {
		d.Extra(mux, RouteLimits{s})
	}
	if s.handler, err = s.chain(mux); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP serves a request through the whole chain.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// chain wraps the mux in the middleware, outermost first. The order is
// the one place to read what every request goes through.
func (s *Server) chain(mux *http.ServeMux) (http.Handler, error) {
	gzip, err := gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.ContentTypeFilter(compressible))
	if err != nil {
		return nil, fmt.Errorf("web: gzip: %w", err)
	}
	var h http.Handler = s.dispatch(mux)
	h = s.limitBodies(h)
	h = compressPages(gzip(h), h)
	h = s.cors().Handler(h)
	if h, err = s.crossOrigin(h); err != nil {
		return nil, fmt.Errorf("web: cross-origin protection: %w", err)
	}
	h = s.securityHeaders(h)
	h = s.accessLog(h)
	h = s.recoverPanics(h)
	h = clientIPs(s.cfg.TrustedProxies)(h)
	h = requestIDs(h)
	return h, nil
}

// compressPages sends pages, assets and the dev outbox through gzip and
// lets the API's small JSON answers skip it: wrapping costs a few
// microseconds per request on the hottest path (GET /api/me) for bodies
// far below the 1 KiB worth compressing.
func compressPages(gzipped, plain http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			plain.ServeHTTP(w, r)
			return
		}
		gzipped.ServeHTTP(w, r)
	})
}

// compressible leaves gRPC and Connect streams alone (they frame and
// compress their own messages) and otherwise follows gzhttp's default.
func compressible(contentType string) bool {
	if strings.HasPrefix(contentType, "application/grpc") || strings.HasPrefix(contentType, "application/connect") {
		return false
	}
	return gzhttp.DefaultContentTypeFilter(contentType)
}

// cors allows the listed origins to call the API with credentials. Never
// "*": a wildcard with credentials would hand sessions to any site.
func (s *Server) cors() *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins:   s.cfg.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Content-Type", "X-Request-Id", "Authorization"},
		ExposedHeaders:   []string{"X-Request-Id", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		AllowCredentials: true,
		MaxAge:           600,
	})
}

// dispatch runs the mux, records the matched route for the log and the
// metrics, and answers unknown routes and wrong methods itself: JSON under
// /api, a page elsewhere.
func (s *Server) dispatch(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			stateOf(r.Context()).route = pattern
			h.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (it knows the Allow set),
		// then answer in our own shape.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.notAllowed(w, r)
			return
		}
		s.notFound(w, r)
	})
}

type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		s.writeError(w, r, auth.Errorf(auth.CodeNotFound, "There is nothing at %s.", r.URL.Path))
		return
	}
	s.renderPage(w, r, http.StatusNotFound, "notfound", pageData{Title: "title.not_found"})
}

func (s *Server) notAllowed(w http.ResponseWriter, r *http.Request) {
	err := auth.Errorf(auth.CodeMethodNotAllowed, "%s is not allowed on %s.", r.Method, r.URL.Path)
	if isAPI(r) {
		s.writeError(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusMethodNotAllowed, "notfound", pageData{Title: "title.not_allowed"})
}

func isAPI(r *http.Request) bool {
	p := r.URL.Path
	return len(p) >= 4 && p[:4] == "/api" && (len(p) == 4 || p[4] == '/')
}
