package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/scalekit"
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

// watcher is what tells a waiting login page about its sign-in: the
// engine when the app routes use it; nil for an upstream provider, whose
// challenges Latch cannot see.
func (f faces) watcher(svc *auth.Service) web.Watcher {
	if f.login == web.Passwordless(svc) {
		return svc
	}
	return nil
}

// providerFaces wires the Scalekit-compatible faces:
//   - with SCALEKIT_ENVIRONMENT_URL, _CLIENT_ID and _CLIENT_SECRET, the app
//     routes use that upstream provider (lazily: nothing is contacted until
//     the first sign-in or readiness probe) and readiness reports it;
//   - with API_CLIENTS, the provider API (/oauth/token, /api/v1/passwordless,
//     gRPC/Connect) is mounted over the engine.
//
// Without either, the app routes use the engine and nothing is mounted.
func providerFaces(_ context.Context, cfg *Config, secret string, svc *auth.Service, store auth.Store, log *slog.Logger) (faces, error) {
	f := faces{login: svc, close: func() error { return nil }}
	upstream := cfg.ScalekitEnvironmentURL != "" && cfg.ScalekitClientID != "" && cfg.ScalekitClientSecret != ""
	if !upstream && len(cfg.APIClients) == 0 {
		return f, nil
	}
	if upstream {
		client, err := scalekit.NewClient(scalekit.ClientConfig{
			EnvironmentURL: cfg.ScalekitEnvironmentURL,
			ClientID:       cfg.ScalekitClientID,
			ClientSecret:   cfg.ScalekitClientSecret,
			LinkURL:        cfg.baseURL.String() + "/api/auth/passwordless/verify",
			Users:          store,
			Secret:         secret,
			Expiry:         cfg.PasswordlessExpiry,
			ResendCooldown: cfg.ResendCooldown,
			SameBrowser:    cfg.SameBrowser,
			Logger:         log,
		})
		if err != nil {
			return f, fmt.Errorf("SCALEKIT_ENVIRONMENT_URL: %w", err)
		}
		if cfg.PasswordlessExpiry < scalekit.MinExpiry || cfg.PasswordlessExpiry > scalekit.MaxExpiry {
			log.Warn("latch: PASSWORDLESS_EXPIRY is outside what the upstream provider accepts; it is clamped",
				"expiry", cfg.PasswordlessExpiry.String(), "min", scalekit.MinExpiry.String(), "max", scalekit.MaxExpiry.String())
		}
		f.login = client
		f.checks = append(f.checks, web.Check{Name: "upstream", Fn: client.Ping})
		f.close = client.Close
		log.Info("latch: sign-ins go to the upstream provider", "url", cfg.ScalekitEnvironmentURL)
	}
	if len(cfg.APIClients) > 0 {
		p, err := scalekit.NewProvider(svc, scalekit.ProviderConfig{
			Clients: cfg.APIClients,
			Secret:  secret,
			Type:    svc.Config().Type,
			Logger:  log,
		})
		if err != nil {
			return f, errors.Join(fmt.Errorf("API_CLIENTS: %w", err), f.close())
		}
		f.mount = p.Mount
		log.Info("latch: provider API mounted", "clients", len(cfg.APIClients))
	}
	return f, nil
}
