package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/clientauth"
)

// tokenError is the OAuth error shape (RFC 6749 §5.2) of /oauth/token.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// TokenHandler answers grant_type=client_credentials of the shared
// /oauth/token (the OpenID provider hands such requests on, their form
// parsed): an admin client gets an admin token; any other client's
// request goes to next, the provider API's grant, or when there is none
// is refused as a grant this server does not serve. Failed admin token
// requests count against TokenFailuresPerIP.
func (a *API) TokenHandler(limits Limiter, next http.Handler) http.Handler {
	var issue http.Handler = http.HandlerFunc(a.issue)
	if limits != nil {
		issue = limits.FailuresPerIP("admin_token", a.cfg.TokenFailuresPerIP, refuseToken, issue)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeTokenJSON(w, http.StatusBadRequest, tokenError{"invalid_request", "The form could not be read."})
			return
		}
		id, _, _ := clientauth.FromRequest(r) // a malformed request is judged where it goes
		switch {
		case a.cfg.Registry.KnowsAdmin(id):
			issue.ServeHTTP(w, r)
		case next != nil:
			next.ServeHTTP(w, r)
		case a.cfg.Registry.Knows(id) || !a.cfg.Registry.AnyAdmin():
			// A client that may not use the grant, or a server that serves
			// it to nobody: nothing to hide.
			writeTokenJSON(w, http.StatusBadRequest, tokenError{"unsupported_grant_type", "grant_type=client_credentials is only for admin clients and passwordless API clients, and this client is neither."})
		default:
			// An unknown id is answered as an admin id with a wrong
			// secret, so that the answer does not tell which ids are
			// admin clients.
			issue.ServeHTTP(w, r)
		}
	})
}

func (a *API) issue(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Pragma", "no-cache")
	id, secret, bad := clientauth.FromRequest(r)
	if bad != nil {
		writeTokenJSON(w, http.StatusBadRequest, tokenError{"invalid_request", bad.Description})
		return
	}
	if secret == "" || !a.cfg.Registry.AuthenticateAdmin(id, secret) {
		a.cfg.Logger.InfoContext(r.Context(), "adminapi: admin token refused", "clientId", clientauth.LogID(id))
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
		writeTokenJSON(w, http.StatusUnauthorized, tokenError{"invalid_client", "Client authentication failed."})
		return
	}
	now := a.cfg.Clock.Now()
	// The subject names the secret too: changing it ends these tokens.
	token, exp, err := a.tokens.Issue(r.Context(), id+" "+a.cfg.Registry.AdminSecretTag(id), now)
	if err != nil {
		a.cfg.Logger.ErrorContext(r.Context(), "adminapi: admin token key unavailable", "err", err)
		writeTokenJSON(w, http.StatusServiceUnavailable, tokenError{"temporarily_unavailable", "The server cannot issue tokens right now; try again shortly."})
		return
	}
	a.cfg.Logger.InfoContext(r.Context(), "adminapi: admin token issued", "clientId", id)
	writeTokenJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int(exp.Sub(now).Seconds()),
		"scope":        "admin",
	})
}

// refuseToken answers a limited token request in the OAuth shape.
func refuseToken(w http.ResponseWriter, _ *http.Request, err error) {
	var e *auth.Error
	if errors.As(err, &e) && e.Code == auth.CodeRateLimited {
		if ra, ok := e.Details["retryAfter"].(int); ok {
			w.Header().Set("Retry-After", strconv.Itoa(ra))
		}
		writeTokenJSON(w, http.StatusTooManyRequests, tokenError{"slow_down", "Too many failed token requests from this address; retry after the time in Retry-After."})
		return
	}
	writeTokenJSON(w, http.StatusServiceUnavailable, tokenError{"temporarily_unavailable", "The token endpoint is unavailable; try again shortly."})
}

func writeTokenJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
