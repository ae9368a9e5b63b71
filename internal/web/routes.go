package web

import "net/http"

// routes lists every route of the app-facing server, each with its rate
// limits. The provider API (internal/scalekit) mounts its own routes,
// with theirs, through Deps.Extra.
func (s *Server) routes(mux *http.ServeMux) {
	// Per client IP and RATE_LIMIT_WINDOW: api (RATE_LIMIT_MAX) on the API
	// routes but the health probes, which load balancers call constantly
	// from a few addresses, and the sign-in status that waiting login
	// pages poll (a room behind one address, each page waiting for its
	// email, would otherwise spend the address's budget on polls and be
	// refused the sends and verifies that matter; it answers from the
	// browser's own cookies and changes nothing), and the forward-auth
	// questions, which a proxy asks from one address for every request of
	// every person (each answer is a session read); authn
	// (RATE_LIMIT_AUTH_IP_MAX), tighter, on what sends mail or judges a
	// code or link, whichever face it comes through. 0 turns either off.
	api := rateLimit{name: "ip", max: s.cfg.RateLimitMax}
	authn := rateLimit{name: "ip_auth", max: s.cfg.AuthIPMax}

	mux.Handle("POST /api/auth/passwordless/email/send", s.limit(s.handleSend, api, authn))
	mux.Handle("POST /api/auth/passwordless/email/resend", s.limit(s.handleResend, api, authn))
	mux.Handle("POST /api/auth/passwordless/email/verify/code", s.limit(s.handleVerifyCode, api, authn))
	mux.Handle("GET /api/auth/passwordless/verify", s.limit(s.handleLinkPage, api)) // GET also serves HEAD
	mux.Handle("POST /api/auth/passwordless/verify", s.limit(s.handleVerifyLink, api, authn))
	mux.HandleFunc("GET /api/auth/passwordless/status", s.handleStatus) // this browser's pending sign-in
	mux.Handle("GET /api/me", s.limit(s.handleMe, api))
	mux.Handle("POST /api/auth/logout", s.limit(s.handleLogout, api))
	mux.HandleFunc("GET /api/health", s.handleHealth)
	mux.HandleFunc("GET /api/health/ready", s.handleReady)
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
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.Handle("POST /login", s.limit(s.handleLoginEmail, authn))
	mux.Handle("POST /login/code", s.limit(s.handleLoginCode, authn))
	mux.Handle("POST /login/resend", s.limit(s.handleLoginResend, authn))
	mux.HandleFunc("POST /logout", s.handleLogoutForm)
	mux.Handle("GET /static/", s.static())
	mux.HandleFunc("GET /brand/logo", s.handleLogo) // Config.LogoFile

	if s.tokens != nil {
		mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
		mux.HandleFunc("GET /keys", s.handleJWKS) // where Scalekit's SDKs look
		mux.HandleFunc("POST /api/auth/token", s.handleToken)
	}

	if s.outbox != nil {
		mux.Handle("GET /dev/outbox", s.loopbackOnly(s.handleOutboxPage))
		mux.Handle("GET /dev/outbox.json", s.loopbackOnly(s.handleOutboxJSON))
	}
}
