package scalekit

import (
	"errors"
	"net/http"
	"strconv"

	"connectrpc.com/connect"

	"github.com/latch-auth/latch/internal/auth"
)

// Limiter puts the provider API's routes behind rate limits, counted
// where the app routes' limits are (the web layer's web.RouteLimits).
// refuse answers a call a limit refused, or could not judge, in the
// route's own shape; its err is an *auth.Error (rate_limited with
// retryAfter, or unavailable).
type Limiter interface {
	// PerIP limits h to max calls per window per client IP.
	PerIP(name string, max int, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler
	// PerKey limits h to max calls per window per key(r); a call key
	// returns "" for is not counted.
	PerKey(name string, max int, key func(*http.Request) string, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler
}

// Limits are the provider API's rate limits, per window of the Limiter.
// Its callers are app servers that relay many people from one address,
// so both are far looser than the app routes' per-IP limits; the
// engine's per-address limits apply to every call as well.
type Limits struct {
	Limiter Limiter // nil: no limits
	// PerClient caps the calls of one API client (by its bearer token)
	// on REST, gRPC and Connect; 0 turns it off.
	PerClient int
	// PerIP caps the calls from one client IP on every route, the token
	// endpoint and calls without a valid token included; 0 turns it off.
	PerIP int
}

// api wraps an authenticated route (REST, gRPC, Connect): per IP first,
// which counts every call, then per client, which counts those with a
// live token.
func (l Limits) api(h http.Handler, client func(*http.Request) string, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	if l.Limiter == nil {
		return h
	}
	h = l.Limiter.PerKey("api_client", l.PerClient, client, refuse, h)
	return l.Limiter.PerIP("api_ip", l.PerIP, refuse, h)
}

// token wraps the token endpoint: per IP only, since the client_id in a
// token request is only a claim, and a limit keyed by it would let anyone
// lock a client out.
func (l Limits) token(h http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	if l.Limiter == nil {
		return h
	}
	return l.Limiter.PerIP("api_ip", l.PerIP, refuse, h)
}

// clientOf names the API client whose live bearer token r carries, or ""
// (authorize then refuses the call, and no client is charged for it).
func (p *Provider) clientOf(r *http.Request) string {
	id, err := p.bearerClient(r.Context(), r.Header)
	if err != nil {
		return ""
	}
	return id
}

// refuseREST answers a limited REST call in grpc-gateway's error shape.
func refuseREST(w http.ResponseWriter, _ *http.Request, err error) {
	writeRESTError(w, fromEngine(err))
}

// refuseRPC answers a limited gRPC, gRPC-Web or Connect call in the
// protocol the call speaks (ResourceExhausted, with Retry-After).
func refuseRPC(w http.ResponseWriter, r *http.Request, err error) {
	connect.NewErrorWriter().Write(w, r, fromEngine(err))
}

// refuseToken answers a limited token request in the OAuth error shape
// (RFC 6749 §5.2): slow_down, the registered code for a client that asks
// too often, or temporarily_unavailable when the limit cannot be judged.
func refuseToken(w http.ResponseWriter, _ *http.Request, err error) {
	var e *auth.Error
	if errors.As(err, &e) && e.Code == auth.CodeRateLimited {
		if ra, ok := e.Details["retryAfter"].(int); ok {
			w.Header().Set("Retry-After", strconv.Itoa(ra))
		}
		writeRESTJSON(w, http.StatusTooManyRequests, tokenError{Error: "slow_down", Description: "Too many token requests from this address; retry after the time in Retry-After."})
		return
	}
	writeRESTJSON(w, http.StatusServiceUnavailable, tokenError{Error: "temporarily_unavailable", Description: "The token endpoint is unavailable; try again shortly."})
}
