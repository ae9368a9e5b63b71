package web

import (
	"net/http"

	"github.com/latch-auth/latch/internal/apidoc"
)

// routes lists every route of the app-facing server, each with its rate
// limits. The provider API (internal/scalekit) and the admin API
// (internal/adminapi, whose route table declares its limits) mount their
// own routes, with theirs, through Deps.Extra.
func (s *Server) routes(mux *http.ServeMux) {
	// Per client IP and RATE_LIMIT_WINDOW (DESIGN.md, "Limits for crowds"):
	// what is limited is what costs the service or helps an attacker, not
	// people signing in, so that a crowd behind one address (a venue's
	// Wi-Fi, an office NAT) is never refused. api (RATE_LIMIT_MAX) counts
	// the API requests that fail — a request without a valid session, a
	// malformed one — and gives back the unit of one that succeeds (or
	// that another limit refused); requests that prove a session skip it
	// (signedIn), so signed-in people are never limited per IP. authn
	// (RATE_LIMIT_AUTH_IP_MAX) counts failed code and link checks. Sends
	// are not counted per request here: the engine keeps each address's
	// send limits and each network's budget of mail to addresses that
	// never sign in (RATE_LIMIT_UNCONFIRMED_MAIL_MAX), which a sign-in
	// gives back. Left out altogether: the health probes, the sign-in
	// status that waiting login pages poll (it answers from the browser's
	// own cookies and changes nothing), and the forward-auth questions,
	// which a proxy asks from one address for every request of every
	// person. 0 turns either off.
	api := rateLimit{name: "ip", max: s.cfg.RateLimitMax}.failures()
	authn := rateLimit{name: "ip_auth", max: s.cfg.AuthIPMax}.failures()

	mux.Handle("POST /api/auth/passwordless/email/send", s.limit(s.handleSend, api))
	mux.Handle("POST /api/auth/passwordless/email/resend", s.limit(s.handleResend, api))
	mux.Handle("POST /api/auth/passwordless/email/verify/code", s.limit(s.handleVerifyCode, api, authn))
	mux.Handle("GET /api/auth/passwordless/verify", s.limit(s.handleLinkPage, api)) // GET also serves HEAD
	mux.Handle("POST /api/auth/passwordless/verify", s.limit(s.handleVerifyLink, api, authn))
	mux.HandleFunc("GET /api/auth/passwordless/status", s.handleStatus) // this browser's pending sign-in
	mux.Handle("GET /api/me", s.signedIn(s.handleMe, api))
	mux.Handle("POST /api/auth/logout", s.signedIn(s.handleLogout, api))
	mux.HandleFunc("GET /api/health", s.handleHealth)
	mux.HandleFunc("GET /api/health/ready", s.handleReady)
	mux.HandleFunc("GET /api/openapi.json", apidoc.Handler)
	if s.forward != nil { // reverse proxies ask here on every request to the apps behind them
		mux.HandleFunc("GET /api/authz/forward-auth", s.proxyAnswer(s.forward.ForwardAuth))
		mux.HandleFunc("GET /api/authz/auth-request", s.proxyAnswer(s.forward.AuthRequest))
	}
	if !s.cfg.MetricsElsewhere {
		mux.Handle("GET /metrics", s.metrics.GuardedHandler(s.cfg.MetricsToken))
	}

	mux.HandleFunc("GET /{$}", s.handleAccount)
	mux.HandleFunc("POST /account/sessions/end", s.handleEndSession)
	mux.HandleFunc("GET /account/delete", s.handleDeleteAccount)
	mux.HandleFunc("POST /account/delete", s.handleDeleteAccount)
	mux.HandleFunc("POST /account/language", s.handleLanguage)
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLoginEmail) // sends: the engine's limits
	mux.Handle("POST /login/code", s.limit(s.handleLoginCode, authn))
	mux.HandleFunc("POST /login/resend", s.handleLoginResend)
	mux.HandleFunc("POST /logout", s.handleLogoutForm)
	mux.Handle("GET /static/", s.static())
	mux.HandleFunc("GET /brand/logo", s.handleLogo) // Config.LogoFile

	if s.tokens != nil {
		mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
		mux.HandleFunc("GET /keys", s.handleJWKS) // where Scalekit's SDKs look
		mux.HandleFunc("POST /api/auth/token", s.handleToken)
	}

	if s.passkeys != nil {
		// Login options cost a store write (the ceremony) and need no
		// session, so every one counts against a per-IP budget of its own,
		// ten times RATE_LIMIT_MAX a window: every /login page with
		// JavaScript asks once (and again before its challenge expires),
		// a crowd behind one address included, while one address cannot
		// write without end. A passkey's answer is a secret judged, so its
		// failures count against authn like a code's.
		options := rateLimit{name: "ip_passkey_options", max: passkeyOptionsFactor * s.cfg.RateLimitMax}
		mux.Handle("POST /api/auth/passkey/login/options", s.limit(s.handlePasskeyLoginOptions, api, options))
		mux.Handle("POST /api/auth/passkey/login/verify", s.limit(s.handlePasskeyLogin, api, authn))
		mux.Handle("POST /api/auth/passkey/register/options", s.limit(s.handlePasskeyRegisterOptions, api))
		mux.Handle("POST /api/auth/passkey/register/verify", s.limit(s.handlePasskeyRegister, api))
		mux.Handle("GET /api/auth/passkeys", s.limit(s.handlePasskeyList, api))
		mux.HandleFunc("POST /account/passkeys/rename", s.handlePasskeyRename)
		mux.HandleFunc("POST /account/passkeys/remove", s.handlePasskeyRemove)
	}

	if s.outbox != nil {
		mux.Handle("GET /dev/outbox", s.loopbackOnly(s.handleOutboxPage))
		mux.Handle("GET /dev/outbox.json", s.loopbackOnly(s.handleOutboxJSON))
	}
}
