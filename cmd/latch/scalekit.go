package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/web"
)

// faces are the provider-facing parts of the server: which Passwordless
// the app routes use (the engine, or an upstream provider), the provider
// API's routes, and their readiness checks.
type faces struct {
	login  web.Passwordless
	mount  func(mux *http.ServeMux)
	checks []web.Check
	close  func() error
}

// providerFaces wires the Scalekit-compatible faces. Without an upstream
// or API clients, the app routes use the engine and nothing is mounted.
func providerFaces(_ context.Context, _ *Config, svc *auth.Service, _ auth.Store, _ *slog.Logger) (faces, error) {
	return faces{login: svc, close: func() error { return nil }}, nil
}
