package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// limitByIP applies the per-client-IP limit (RATE_LIMIT_MAX per
// RATE_LIMIT_WINDOW) to /api routes, except the health probes, which load
// balancers call constantly from a few addresses. Limited responses carry
// RateLimit-Limit, -Remaining and -Reset; refused ones 429 with
// Retry-After. When the limiter's store is down the request is refused
// with 503 rather than let through unlimited.
func (s *Server) limitByIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !limitedPath(r.URL.Path) || s.cfg.RateLimitMax <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		key := "ip:" + stateOf(r.Context()).clientIP
		d, err := s.ipLimiter.Take(r.Context(), key, s.cfg.RateLimitMax, s.cfg.RateLimitWindow, s.clock.Now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		setRateLimitHeaders(w, d)
		if !d.Allowed {
			s.auditor.Audit(r.Context(), auth.Event{Kind: auth.EventRateLimited, Method: "ip"})
			s.writeError(w, r, limited(d.Reset))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func limitedPath(p string) bool {
	return (strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/api/health")) || p == "/oauth/token"
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
