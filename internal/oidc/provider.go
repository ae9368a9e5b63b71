package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/i18n"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/token"
)

// Sessions is what the provider needs of the engine; *auth.Service
// implements it.
type Sessions interface {
	// Authenticate returns the live session of a session cookie's token.
	Authenticate(ctx context.Context, token string) (*auth.Session, error)
	// EndSession ends one session (RP-initiated logout).
	EndSession(ctx context.Context, sess *auth.Session) error
	// User returns a user by id, or kv.ErrNotFound.
	User(ctx context.Context, id string) (*auth.User, error)
}

// Tokens signs and checks what the provider hands out; *token.Issuer
// implements it.
type Tokens interface {
	Mint(ctx context.Context, typ string, claims map[string]any, ttl time.Duration) (string, time.Time, error)
	MintAccess(ctx context.Context, req token.AccessRequest) (string, time.Time, error)
	VerifyAccess(ctx context.Context, raw string) (*token.Access, error)
	Verify(ctx context.Context, raw string, want token.Expect) (*token.Claims, error)
}

// Config is the provider's share of the configuration; zero durations
// take the defaults beside them.
type Config struct {
	// Issuer is BASE_URL without a trailing slash.
	Issuer string
	// CookieDomain and SecureCookies are the session cookie's, so that
	// logout clears the very cookie /login set.
	CookieDomain  string
	SecureCookies bool
	IDTokenTTL    time.Duration // 1h
	// RefreshLifetime is how long a refresh-token family lives (30 days).
	RefreshLifetime time.Duration
	CodeTTL         time.Duration // 60s, the most OAuth allows
	RequestTTL      time.Duration // 10m: a pending authorization request
	// ClientCredentials answers grant_type=client_credentials on the
	// shared token endpoint (the provider API); nil answers
	// unsupported_grant_type.
	ClientCredentials http.Handler
	Clock             auth.Clock
	Logger            *slog.Logger
}

// Provider is the OpenID provider.
type Provider struct {
	cfg      Config
	clients  *Registry
	sessions Sessions
	tokens   Tokens
	store    kv.Store
	clock    auth.Clock
	log      *slog.Logger
	// lang are the languages of the provider's own pages and of /login,
	// which discovery lists (ui_locales_supported).
	lang *i18n.Bundle
}

// New returns a provider over the registry, the engine's sessions, the
// token issuer and the store.
func New(cfg Config, clients *Registry, sessions Sessions, tokens Tokens, store kv.Store) (*Provider, error) {
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.Issuer == "" || clients == nil || sessions == nil || tokens == nil || store == nil {
		return nil, errors.New("oidc: a provider needs an issuer, clients, sessions, tokens and a store")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IDTokenTTL, time.Hour)
	def(&cfg.RefreshLifetime, 30*24*time.Hour)
	def(&cfg.CodeTTL, time.Minute)
	def(&cfg.RequestTTL, 10*time.Minute)
	if cfg.Clock == nil {
		cfg.Clock = auth.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	lang, err := i18n.Load()
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	return &Provider{cfg: cfg, clients: clients, sessions: sessions, tokens: tokens, store: store, clock: cfg.Clock, log: cfg.Logger, lang: lang}, nil
}

// The endpoints discovery names. Authorization, token, JWKS and end
// session are fixed by the contract (Scalekit's SDKs build those paths).
const (
	pathAuthorize = "/oauth/authorize"
	pathResume    = "/oauth/authorize/resume"
	pathConsent   = "/oauth/authorize/consent"
	pathToken     = "/oauth/token"
	pathUserinfo  = "/oauth/userinfo"
	pathRevoke    = "/oauth/revoke"
	pathJWKS      = "/keys"
	pathLogout    = "/oidc/logout"
)

// Mount registers the provider's routes, the token endpoint included
// (client_credentials goes on to Config.ClientCredentials).
func (p *Provider) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("GET "+pathAuthorize, p.handleAuthorize)
	mux.HandleFunc("GET "+pathResume, p.handleResume)
	mux.HandleFunc("POST "+pathConsent, p.handleConsent)
	mux.HandleFunc("POST "+pathToken, p.handleToken)
	mux.HandleFunc("GET "+pathUserinfo, p.handleUserinfo)
	mux.HandleFunc("POST "+pathUserinfo, p.handleUserinfo)
	mux.HandleFunc("POST "+pathRevoke, p.handleRevoke)
	mux.HandleFunc("GET "+pathLogout, p.handleLogout)
	mux.HandleFunc("POST "+pathLogout, p.handleLogout)
}

// Supported scopes; a scope the provider does not know is ignored (OIDC
// Core §3.1.2.1 lets an OP do so).
var supportedScopes = []string{"openid", "email", "profile", "offline_access", "groups"}

func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := p.cfg.Issuer
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + pathAuthorize,
		"token_endpoint":                                 iss + pathToken,
		"userinfo_endpoint":                              iss + pathUserinfo,
		"jwks_uri":                                       iss + pathJWKS,
		"end_session_endpoint":                           iss + pathLogout,
		"revocation_endpoint":                            iss + pathRevoke,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256"},
		"scopes_supported":                               supportedScopes,
		"claims_supported":                               []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp", "at_hash", "email", "email_verified", "groups"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": true,
		"frontchannel_logout_supported":                  false,
		"ui_locales_supported":                           p.uiLocales(),
	})
}

func (p *Provider) uiLocales() []string {
	var tags []string
	for _, l := range p.lang.Locales() {
		tags = append(tags, l.Tag())
	}
	return tags
}

// oauthError is the OAuth error shape (RFC 6749 §5.2).
type oauthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func oerr(status int, code, desc string) *oauthError {
	return &oauthError{Status: status, Code: code, Description: desc}
}

// writeOAuthError answers err in the OAuth shape; anything that is no
// *oauthError is the server's fault (a store down answers 503).
func (p *Provider) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauthError
	if !errors.As(err, &oe) {
		p.log.ErrorContext(r.Context(), "oidc: request failed", "path", r.URL.Path, "err", err)
		oe = oerr(http.StatusInternalServerError, "server_error", "The server could not complete the request.")
		if errors.Is(err, kv.ErrUnavailable) || auth.ErrorCode(err) == auth.CodeUnavailable {
			oe = oerr(http.StatusServiceUnavailable, "temporarily_unavailable", "The server cannot answer right now; try again shortly.")
		}
	}
	if oe.Status == http.StatusUnauthorized && oe.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
	}
	writeJSON(w, oe.Status, oe)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionCookie is the session cookie /login sets (internal/web).
const sessionCookie = "latch_session"

func (p *Provider) session(r *http.Request) (*auth.Session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := p.sessions.Authenticate(r.Context(), c.Value)
	if auth.ErrorCode(err) == auth.CodeUnauthorized {
		return nil, nil
	}
	return sess, err
}

func (p *Provider) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", Domain: p.cfg.CookieDomain, MaxAge: -1,
		HttpOnly: true, Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}" dir="{{.Dir}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}button{font:inherit;padding:.5rem 1rem;margin-inline-end:.5rem}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Form}}<form method="post" action="{{.Form}}">{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<button type="submit" name="decision" value="allow">{{.Yes}}</button>{{if .No}}<button type="submit" name="decision" value="deny">{{.No}}</button>{{end}}</form>{{end}}
</main></body></html>`))

// page is one of the provider's pages, its words already in the page's
// language.
type page struct {
	Title, Message string
	Form           string
	Fields         map[string]string
	Yes, No        string
	Lang, Dir      string
}

// locale is the language of a page: the authorization request's
// ui_locales, then the browser's Accept-Language (API.md, "Languages").
func (p *Provider) locale(r *http.Request, uiLocales string) *i18n.Locale {
	if uiLocales == "" {
		uiLocales = r.URL.Query().Get("ui_locales")
	}
	return p.lang.Negotiate(uiLocales, r.Header.Get("Accept-Language"))
}

func (p *Provider) renderPage(w http.ResponseWriter, r *http.Request, status int, l *i18n.Locale, pg page) {
	if l == nil {
		l = p.locale(r, "")
	}
	pg.Lang, pg.Dir = l.Tag(), l.Dir()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", l.Tag())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	pageTemplate.Execute(w, pg)
}

// errorPage is the answer to a request that cannot be sent back to the
// client (unknown client, unregistered redirect URI): never a redirect.
// key is the catalogue's sentence for it.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, key string) {
	l := p.locale(r, "")
	p.renderPage(w, r, http.StatusBadRequest, l, page{Title: l.T("oidc.invalid_title"), Message: l.T(key)})
}

// redirectWith sends the person back to the client's redirect URI with
// params, state and iss (RFC 9207).
func (p *Provider) redirectWith(w http.ResponseWriter, r *http.Request, redirectURI, state string, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		p.errorPage(w, r, "oidc.bad_redirect")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", p.cfg.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	p.redirectWith(w, r, redirectURI, state, url.Values{"error": {code}, "error_description": {desc}})
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}
