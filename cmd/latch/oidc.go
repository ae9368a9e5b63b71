package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/latch-auth/latch/internal/admin"
	"github.com/latch-auth/latch/internal/adminapi"
	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/oidc"
	"github.com/latch-auth/latch/internal/token"
	"github.com/latch-auth/latch/internal/vault"
	"github.com/latch-auth/latch/internal/web"
)

// openIDProvider wires the OpenID provider over the client registry of
// CLIENTS_FILE and the provider API, which share /oauth/token. It
// returns the routes of both and the reloader SIGHUP runs.
func openIDProvider(cfg *Config, secret string, svc *auth.Service, v *vault.Vault, issuer *token.Issuer, store kv.Store, commands map[string]admin.Handler, forget *userDeletedHooks, log *slog.Logger) (func(*http.ServeMux, web.RouteLimits), func(), error) {
	registry, err := oidc.NewRegistry(cfg.ClientsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("CLIENTS_FILE: %w", err)
	}
	api, apiLimits, err := providerAPI(cfg, secret, svc, v, registry, log)
	if err != nil {
		return nil, nil, err
	}
	adminAPI, err := adminapi.New(adminapi.Config{
		Handlers:           commands,
		Registry:           registry,
		TokenKey:           func(ctx context.Context) ([]byte, error) { return v.Key(ctx, "admin-bearer-tokens") },
		FailuresPerIP:      cfg.RateLimitMax,
		TokenFailuresPerIP: cfg.RateLimitAuthIPMax,
		PerClient:          cfg.RateLimitAPIClientMax,
		Logger:             log,
	})
	if err != nil {
		return nil, nil, err
	}
	// client_credentials goes to the admin API's grant for admin clients
	// and to the provider API's for the others, behind their limits,
	// which exist once the web layer mounts the routes.
	var clientCredentials http.Handler
	pc := oidc.Config{
		Issuer:        cfg.baseURL.String(),
		CookieDomain:  cfg.CookieDomain,
		SecureCookies: cfg.production() || cfg.baseURL.Scheme == "https",
		Logger:        log,
	}
	pc.ClientCredentials = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { clientCredentials.ServeHTTP(w, r) })
	op, err := oidc.New(pc, registry, svc, issuer, store)
	if err != nil {
		return nil, nil, err
	}
	*forget = append(*forget, op.ForgetUser)
	if cfg.ClientsFile != "" {
		log.Info("latch: OpenID Connect clients loaded", "file", cfg.ClientsFile, "clients", registry.Len())
	}
	reload := func() {
		if cfg.ClientsFile == "" {
			return
		}
		if err := registry.Reload(); err != nil {
			log.Error("latch: CLIENTS_FILE not reloaded; the clients read before stay", "err", err)
			return
		}
		log.Info("latch: CLIENTS_FILE reloaded", "clients", registry.Len())
	}
	mount := func(mux *http.ServeMux, limits web.RouteLimits) {
		var apiGrant http.Handler
		if api != nil {
			apiGrant = api.TokenHandler(apiLimits(limits))
			api.Mount(mux, apiLimits(limits))
		}
		clientCredentials = adminAPI.TokenHandler(limits, apiGrant)
		adminAPI.Mount(mux, limits)
		op.Mount(mux)
	}
	return mount, reload, nil
}

// userDeletedHooks let the parts wired after the engine (the OpenID
// provider's consents and refresh tokens) forget a deleted user too.
type userDeletedHooks []func(ctx context.Context, userID string) error

func (h *userDeletedHooks) run(ctx context.Context, userID string) error {
	var errs []error
	for _, f := range *h {
		if err := f(ctx, userID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
