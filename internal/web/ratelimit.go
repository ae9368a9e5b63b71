package web

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
)

// Limiter counts requests for the route limits: Reserve takes one unit
// of the sliding-window counter at key when fewer than limit are held,
// else refuses with how long until one frees up (kv.Store's contract;
// every kv.Store implements it).
type Limiter interface {
	Reserve(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (kv.Decision, error)
	Release(ctx context.Context, key string, window time.Duration, taken time.Time) error
}

// A rateLimit is one budget of a route, declared beside the route in
// routes.go: at most max requests per RATE_LIMIT_WINDOW for each key that
// by picks from a request. A nil by counts per client IP: an IPv4
// address, or for IPv6 the /64 (one subscriber commonly holds a whole
// /64) and, at ipv6SiteFactor times max, the /48 (one site), so that
// walking the addresses of a site buys no more than a few subscribers'
// budgets. A max of 0 turns the limit off; a by that returns "" leaves
// the request uncounted.
type rateLimit struct {
	name string
	max  int
	by   func(r *http.Request) string
	// failuresOnly counts only requests that fail (an answer of 400 or
	// more): the unit is taken before the handler runs, so racing
	// requests cannot pass the limit, and given back when it succeeds. A
	// crowd behind one address that signs in costs nothing; an address
	// that guesses or probes runs out.
	failuresOnly bool
}

// failures is l counting failed requests only.
func (l rateLimit) failures() rateLimit { l.failuresOnly = true; return l }

// ipv6SiteFactor is how much looser the per-/48 limit is than the per-/64 one.
const ipv6SiteFactor = 4

// refuseFunc answers a request that a limit refused (err is rate_limited,
// with retryAfter) or could not judge (err is unavailable: the counters'
// store is down, and a request is never let through unlimited), in the
// route's own error shape.
type refuseFunc func(w http.ResponseWriter, r *http.Request, err error)

// limit puts h behind limits, answering refusals in the JSON error shape
// (or as a page for a person on an HTML route).
func (s *Server) limit(h http.HandlerFunc, limits ...rateLimit) http.Handler {
	return s.limited(h, s.middlewareError, limits...)
}

// limited puts h behind limits. Each is counted in turn; the first that
// refuses answers 429 through refuse. Answers carry RateLimit-Limit,
// -Remaining and -Reset of the tightest limit.
func (s *Server) limited(h http.Handler, refuse refuseFunc, limits ...rateLimit) http.Handler {
	var on []rateLimit
	for _, l := range limits {
		if l.max > 0 {
			on = append(on, l)
		}
	}
	if len(on) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var shown kv.Decision
		now := s.clock.Now()
		var giveBack []string // units to return if the request succeeds
		for _, l := range on {
			for _, c := range l.counters(r) {
				d, err := s.limiter.Reserve(r.Context(), "lim:"+c.key, c.max, s.cfg.RateLimitWindow, now)
				if err != nil {
					s.giveBack(r, giveBack, now)
					refuse(w, r, auth.Unavailable("rate limit", err))
					return
				}
				if d.Allowed && l.failuresOnly {
					giveBack = append(giveBack, "lim:"+c.key)
				}
				if shown.Limit == 0 || d.Remaining < shown.Remaining || !d.Allowed {
					shown = d
				}
				if !d.Allowed {
					s.giveBack(r, giveBack, now)
					setRateLimitHeaders(w, d)
					s.auditor.Audit(r.Context(), auth.Event{Kind: auth.EventRateLimited, Method: l.name})
					refuse(w, r, auth.RateLimited(d.RetryAfter))
					return
				}
			}
		}
		setRateLimitHeaders(w, shown)
		if len(giveBack) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		// 0: nothing written, which is a 200. A 429 is another limit's
		// refusal (the engine's), which that limit counts: counted here
		// too, one budget running out would spill into every route.
		if sw.status < 400 || sw.status == http.StatusTooManyRequests {
			s.giveBack(r, giveBack, now)
		}
	})
}

// signedIn serves h without limits to a request that proves a session
// (cookie or bearer token), with the session in the request's state for
// h to use; every other request goes through limits to h, which answers
// it as not signed in. Signed-in people are never limited per IP: a
// room behind one address, or an app server asking for all its users,
// is many people on one address.
func (s *Server) signedIn(h http.HandlerFunc, limits ...rateLimit) http.Handler {
	anonymous := s.limit(h, limits...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sess, err := s.requestSession(w, r); err == nil {
			st := stateOf(r.Context())
			st.session = sess
			h(w, r)
			return
		}
		w.Header().Del("WWW-Authenticate") // h sets its own
		anonymous.ServeHTTP(w, r)
	})
}

// giveBack returns units taken at now.
func (s *Server) giveBack(r *http.Request, keys []string, now time.Time) {
	for _, k := range keys {
		s.limiter.Release(context.WithoutCancel(r.Context()), k, s.cfg.RateLimitWindow, now)
	}
}

// counter is one count a limit takes for a request.
type counter struct {
	key string
	max int
}

func (l rateLimit) counters(r *http.Request) []counter {
	if l.by != nil {
		if k := l.by(r); k != "" {
			return []counter{{key: l.name + ":" + k, max: l.max}}
		}
		return nil
	}
	ip := stateOf(r.Context()).clientIP
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return []counter{{key: l.name + ":" + ip, max: l.max}}
	}
	return []counter{
		{key: l.name + ":" + limitKey(ip), max: l.max},
		{key: l.name + "_48:" + netip.PrefixFrom(a, 48).Masked().String(), max: l.max * ipv6SiteFactor},
	}
}

// limitKey is what per-IP counts key on: the address itself for IPv4,
// its /64 for IPv6, since one subscriber commonly holds a whole /64.
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// caller is who asks, for the engine's limits: the client's network.
func (s *Server) caller(r *http.Request) auth.Caller {
	return auth.Caller{Requester: "net:" + limitKey(stateOf(r.Context()).clientIP)}
}

func setRateLimitHeaders(w http.ResponseWriter, d kv.Decision) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(auth.Seconds(d.Reset)))
}

// RouteLimits lets routes mounted through Deps.Extra (the provider API)
// declare their limits beside them, counted like the app routes' limits,
// while answering refusals in their own error shapes.
type RouteLimits struct{ s *Server }

// PerIP puts h behind a limit of max requests per window per client IP
// (IPv6: per /64, and per /48 at a looser limit). refuse answers a
// refused request with err (rate_limited or unavailable, an *auth.Error).
func (l RouteLimits) PerIP(name string, max int, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler {
	return l.s.limited(h, refuse, rateLimit{name: name, max: max})
}

// PerKey puts h behind a limit of max requests per window for each key
// that key returns; a request it returns "" for is not counted.
func (l RouteLimits) PerKey(name string, max int, key func(*http.Request) string, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler {
	return l.s.limited(h, refuse, rateLimit{name: name, max: max, by: key})
}

// FailuresPerIP puts h behind a limit of max failed requests (an answer
// of 400 or more) per window per client IP, as the app routes' api limit
// counts: a request that succeeds gives its unit back.
func (l RouteLimits) FailuresPerIP(name string, max int, refuse func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler {
	return l.s.limited(h, refuse, rateLimit{name: name, max: max}.failures())
}
