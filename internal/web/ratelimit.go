package web

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// limitByIP applies two limits per client IP and RATE_LIMIT_WINDOW:
// RATE_LIMIT_MAX on every /api route (except the health probes, which load
// balancers call constantly from a few addresses), and the tighter
// RATE_LIMIT_AUTH_IP_MAX on the routes that send mail or judge a code or
// link, whichever face they come through (JSON API, login page, provider
// API). Limited responses carry RateLimit-Limit, -Remaining and -Reset of
// the tightest limit; refused ones 429 with Retry-After. When the limiter's
// store is down the request is refused with 503 rather than let through
// unlimited.
func (s *Server) limitByIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		general := s.cfg.RateLimitMax > 0 && generalLimited(r.URL.Path)
		authn := s.cfg.AuthIPMax > 0 && r.Method == http.MethodPost && authLimited(r.URL.Path)
		if !general && !authn {
			next.ServeHTTP(w, r)
			return
		}
		ip := limitKey(stateOf(r.Context()).clientIP)
		var shown kv.Decision
		for _, l := range []struct {
			on    bool
			name  string
			limit int
		}{{general, "ip", s.cfg.RateLimitMax}, {authn, "ip_auth", s.cfg.AuthIPMax}} {
			if !l.on {
				continue
			}
			d, err := s.ipLimiter.Reserve(r.Context(), "lim:"+l.name+":"+ip, l.limit, s.cfg.RateLimitWindow, s.clock.Now())
			if err != nil {
				s.middlewareError(w, r, auth.Unavailable("rate limit", err))
				return
			}
			if shown.Limit == 0 || d.Remaining < shown.Remaining || !d.Allowed {
				shown = d
			}
			if !d.Allowed {
				setRateLimitHeaders(w, d)
				s.auditor.Audit(r.Context(), auth.Event{Kind: auth.EventRateLimited, Method: l.name})
				s.middlewareError(w, r, auth.RateLimited(d.RetryAfter))
				return
			}
		}
		setRateLimitHeaders(w, shown)
		next.ServeHTTP(w, r)
	})
}

// generalLimited lists the paths under RATE_LIMIT_MAX. The provider API
// (/api/v1, gRPC) is left out: its callers are app servers that relay
// every one of their users from one address, they authenticate with a
// bearer token, and the engine's per-address limits apply to them.
//
// The forward-auth questions (/api/authz/) are left out: a proxy asks
// once for every request a signed-in person makes to the apps behind it
// (every asset of every page), and each answer is a session read.
//
// The sign-in status that waiting login pages poll is left out too: a
// room of people behind one address, each with a page waiting for its
// email, would otherwise spend the whole address's budget on polls and
// be refused the sends and verifies that matter. It answers from the
// browser's own cookies and changes nothing.
func generalLimited(p string) bool {
	return (strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/api/health") && !strings.HasPrefix(p, "/api/v1/") &&
		!strings.HasPrefix(p, "/api/authz/") && p != "/api/auth/passwordless/status") ||
		p == "/oauth/token"
}

// authLimited lists the paths that send mail or judge a secret.
func authLimited(p string) bool {
	return strings.HasPrefix(p, "/api/auth/passwordless/") || strings.HasPrefix(p, "/login/") || p == "/login"
}

// limitKey is what per-IP limits count by: the address itself for IPv4,
// its /64 for IPv6, since one subscriber commonly holds a whole /64.
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

func setRateLimitHeaders(w http.ResponseWriter, d kv.Decision) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(auth.Seconds(d.Reset)))
}

// caller is who asks, for the engine's limits: the client's network.
func (s *Server) caller(r *http.Request) auth.Caller {
	return auth.Caller{Requester: "net:" + limitKey(stateOf(r.Context()).clientIP)}
}
