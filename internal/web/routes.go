package web

import "net/http"

// routes lists every route of the app-facing server. The provider API
// (internal/scalekit) mounts its own through Deps.Extra.
func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/auth/passwordless/email/send", s.handleSend)
	mux.HandleFunc("POST /api/auth/passwordless/email/resend", s.handleResend)
	mux.HandleFunc("POST /api/auth/passwordless/email/verify/code", s.handleVerifyCode)
	mux.HandleFunc("GET /api/auth/passwordless/verify", s.handleLinkPage) // GET also serves HEAD
	mux.HandleFunc("POST /api/auth/passwordless/verify", s.handleVerifyLink)
	mux.HandleFunc("GET /api/auth/passwordless/status", s.handleStatus) // this browser's pending sign-in
	mux.HandleFunc("GET /api/me", s.handleMe)
	mux.HandleFunc("POST /api/auth/logout", s.handleLogout)
	mux.HandleFunc("GET /api/health", s.handleHealth)
	mux.HandleFunc("GET /api/health/ready", s.handleReady)
	if s.forward != nil { // reverse proxies ask here on every request to the apps behind them
		mux.HandleFunc("GET /api/authz/forward-auth", s.proxyAnswer(s.forward.ForwardAuth))
		mux.HandleFunc("GET /api/authz/auth-request", s.proxyAnswer(s.forward.AuthRequest))
	}
	if !s.cfg.MetricsElsewhere {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}

	mux.HandleFunc("GET /{$}", s.handleAccount)
	mux.HandleFunc("POST /account/sessions/end", s.handleEndSession)
	mux.HandleFunc("GET /account/delete", s.handleDeleteAccount)
	mux.HandleFunc("POST /account/delete", s.handleDeleteAccount)
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLoginEmail)
	mux.HandleFunc("POST /login/code", s.handleLoginCode)
	mux.HandleFunc("POST /login/resend", s.handleLoginResend)
	mux.HandleFunc("POST /logout", s.handleLogoutForm)
	mux.Handle("GET /static/", s.static())
	mux.HandleFunc("GET /brand/logo", s.handleLogo) // Config.LogoFile

	if s.tokens != nil {
		mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
		mux.HandleFunc("GET /keys", s.handleJWKS) // where Scalekit's SDKs look
		mux.HandleFunc("POST /api/auth/token", s.handleToken)
	}

	if s.outbox != nil {
		mux.HandleFunc("GET /dev/outbox", s.handleOutboxPage)
		mux.HandleFunc("GET /dev/outbox.json", s.handleOutboxJSON)
	}
}
