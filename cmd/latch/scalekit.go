package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/oidc"
	"github.com/latch-auth/latch/internal/scalekit"
	"github.com/latch-auth/latch/internal/vault"
	"github.com/latch-auth/latch/internal/web"
)

// upstreamClient returns the upstream provider of SCALEKIT_ENVIRONMENT_URL,
// _CLIENT_ID and _CLIENT_SECRET, or nil when none is configured. It is
// lazy: nothing is contacted until the first sign-in or readiness probe.
// The engine judges nothing itself then; it still keeps users, sessions,
// the browser binding, audit events and metrics.
func upstreamClient(cfg *Config, log *slog.Logger) (*scalekit.Client, error) {
	if cfg.ScalekitEnvironmentURL == "" || cfg.ScalekitClientID == "" || cfg.ScalekitClientSecret == "" {
		return nil, nil
	}
	client, err := scalekit.NewClient(scalekit.ClientConfig{
		EnvironmentURL: cfg.ScalekitEnvironmentURL,
		ClientID:       cfg.ScalekitClientID,
		ClientSecret:   cfg.ScalekitClientSecret,
		Logger:         log,
	})
	if err != nil {
		return nil, fmt.Errorf("SCALEKIT_ENVIRONMENT_URL: %w", err)
	}
	if cfg.PasswordlessExpiry < scalekit.MinExpiry || cfg.PasswordlessExpiry > scalekit.MaxExpiry {
		log.Warn("latch: PASSWORDLESS_EXPIRY is outside what the upstream provider accepts; it is clamped",
			"expiry", cfg.PasswordlessExpiry.String(), "min", scalekit.MinExpiry.String(), "max", scalekit.MaxExpiry.String())
	}
	log.Info("latch: sign-ins go to the upstream provider", "url", cfg.ScalekitEnvironmentURL)
	return client, nil
}

// providerAPI returns the Scalekit-compatible provider API
// (/api/v1/passwordless, gRPC/Connect; its client-credentials grant is
// served through the shared /oauth/token) over the engine, or nil when no
// client may use it: none in API_CLIENTS and none with passwordlessApi
// in CLIENTS_FILE. Its bearer tokens are signed with a random key of the
// vault.
// limits gives the provider API's routes their limits once the web layer
// hands out its limiter.
func providerAPI(cfg *Config, secret string, svc *auth.Service, v *vault.Vault, registry *oidc.Registry, log *slog.Logger) (_ *scalekit.Provider, limits func(web.RouteLimits) scalekit.Limits, _ error) {
	if len(cfg.APIClients) == 0 && !registry.AnyAPI() {
		return nil, nil, nil
	}
	p, err := scalekit.NewProvider(svc, scalekit.ProviderConfig{
		Clients:                cfg.APIClients,
		Registry:               registry,
		TokenEndpointElsewhere: true,
		Secret:                 secret,
		TokenKey:               func(ctx context.Context) ([]byte, error) { return v.Key(ctx, "provider-bearer-tokens") },
		Type:                   svc.Config().Type,
		Logger:                 log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("API_CLIENTS: %w", err)
	}
	perIP := cfg.RateLimitAPIIPMax
	if cfg.RateLimitAuthIPMax == 0 {
		// RATE_LIMIT_AUTH_IP_MAX=0 turns off every per-IP limit on what
		// sends mail or judges a secret: these routes do both.
		perIP = 0
	}
	log.Info("latch: provider API mounted", "clients", len(cfg.APIClients))
	return p, func(l web.RouteLimits) scalekit.Limits {
		return scalekit.Limits{Limiter: l, PerClient: cfg.RateLimitAPIClientMax, PerIP: perIP}
	}, nil
}
