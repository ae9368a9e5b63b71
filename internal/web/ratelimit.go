package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
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
		ip := stateOf(r.Context()).clientIP
		var shown auth.Decision
		for _, l := range []struct {
			on    bool
			name  string
			limit int
		}{{general, "ip", s.cfg.RateLimitMax}, {authn, "ip_auth", s.cfg.AuthIPMax}} {
			if !l.on {
				continue
			}
			d, err := s.ipLimiter.Take(r.Context(), l.name+":"+ip, l.limit, s.cfg.RateLimitWindow, s.clock.Now())
			if err != nil {
				s.middlewareError(w, r, err)
				return
			}
			if shown.Limit == 0 || d.Remaining < shown.Remaining || !d.Allowed {
				shown = d
			}
			if !d.Allowed {
				setRateLimitHeaders(w, d)
				s.auditor.Audit(r.Context(), auth.Event{Kind: auth.EventRateLimited, Method: l.name})
				s.middlewareError(w, r, limited(d.Reset))
				return
			}
		}
		setRateLimitHeaders(w, shown)
		next.ServeHTTP(w, r)
	})
}

func generalLimited(p string) bool {
	return (strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/api/health")) || p == "/oauth/token"
}

// authLimited lists the paths that send mail or judge a secret.
func authLimited(p string) bool {
	return strings.HasPrefix(p, "/api/auth/passwordless/") || strings.HasPrefix(p, "/api/v1/passwordless/") ||
		strings.HasPrefix(p, "/scalekit.v1.auth.passwordless.") || strings.HasPrefix(p, "/login/") || p == "/login"
}

func setRateLimitHeaders(w http.ResponseWriter, d auth.Decision) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
}

func limited(wait time.Duration) error {
	sec := ceilSeconds(wait)
	return auth.Errorf(auth.CodeRateLimited, "Too many requests. Try again in %d seconds.", sec).WithDetail("retryAfter", sec)
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
