// Package metrics defines Latch's Prometheus metrics (all named latch_*)
// on a registry of its own, and the handler that serves them.
package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latch-auth/latch/internal/auth"
)

// Metrics holds every collector. Its methods are safe for concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	events      *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	failures    *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	mail        *prometheus.CounterVec
	toInbox     prometheus.Histogram
}

// Build describes the running binary for latch_build_info.
type Build struct {
	Version, Commit string
}

// New registers Latch's collectors plus the Go runtime and process ones.
func New(b Build) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latch_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_auth_events_total", Help: "Login events: login_requested, code_sent, login_succeeded, login_failed, wrong_code, challenge_locked, rate_limited, logout, logout_everywhere, passkey_added, passkey_removed; method is code, link or passkey for sign-ins.",
		}, []string{"event", "method"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_login_failures_total", Help: "Codes, links and passkeys that signed nobody in, by method (code, link, passkey) and reason (invalid_code, expired, too_many_attempts, different_browser, unauthorized).",
		}, []string{"method", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_rate_limited_total", Help: "Requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_store_errors_total", Help: "Requests that failed because a store or other dependency was unavailable.",
		}, []string{"code"}),
		mail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_mail_total", Help: "Login mails by outcome: queued, replaced (by a resend before delivery), sent, retried, dead_lettered, dropped.",
		}, []string{"outcome"}),
		toInbox: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "latch_mail_time_to_inbox_seconds", Help: "Time from a login mail's queuing to the mail server's acceptance (250), retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "latch_build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": runtime.Version()},
	})
	info.Set(1)
	reg.MustRegister(m.requests, m.duration, m.events, m.failures, m.rateLimited, m.storeErrors, m.mail, m.toInbox, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{"queued", "replaced", "sent", "retried", "dead_lettered", "dropped"} {
		m.mail.WithLabelValues(o)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// GuardedHandler is Handler behind a bearer token: a scrape must send
// "Authorization: Bearer <token>" (Prometheus: authorization.credentials),
// else it gets 401. An empty token guards nothing.
func (m *Metrics) GuardedHandler(token string) http.Handler {
	h := m.Handler()
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need a bearer token (METRICS_TOKEN)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest counts one finished HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions:
	default:
		// net/http accepts any token as a method; labelling each one would
		// let a client grow the metrics without bound.
		method = "OTHER"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
	if status == http.StatusServiceUnavailable || status == http.StatusBadGateway {
		m.storeErrors.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

// Mail counts one mail outcome (queued, replaced, retried, dead_lettered,
// dropped; MailSent counts sent).
func (m *Metrics) Mail(outcome string) { m.mail.WithLabelValues(outcome).Inc() }

// MailSent counts one delivered mail and its time to inbox.
func (m *Metrics) MailSent(timeToInbox time.Duration) {
	m.mail.WithLabelValues("sent").Inc()
	m.toInbox.Observe(timeToInbox.Seconds())
}

// ObserveMailDelivery reports, at every scrape, how many deliveries the
// mail worker allows at once (it adapts to the relay) and how many are in
// flight.
func (m *Metrics) ObserveMailDelivery(concurrency, inFlight func() int) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_mail_delivery_concurrency", Help: "Mail deliveries this replica allows at once; adapts to the relay's latency between MAIL_WORKERS and MAIL_CONCURRENCY_MAX.",
		}, func() float64 { return float64(concurrency()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_mail_deliveries_in_flight", Help: "Mail deliveries under way on this replica.",
		}, func() float64 { return float64(inFlight()) }),
	)
}

// ObserveMailQueue reports the queue's length at every scrape by asking
// length, bounded to one second; a failing store reports -1.
func (m *Metrics) ObserveMailQueue(length func(ctx context.Context) (int, error)) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "latch_mail_queue_length", Help: "Mails waiting in the durable queue; -1 when the store cannot say.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := length(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// ObserveMailRelay reports, at every scrape, whether the SMTP relay
// answered when it was last asked (by a probe or a delivery: 1 yes, 0 no,
// -1 not asked yet) and when that was. Sign-ins go on while it is down
// (mail is queued), so it is for alerts, not readiness.
func (m *Metrics) ObserveMailRelay(state func() (up bool, checkedAt time.Time)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_mail_relay_up", Help: "1 when the SMTP relay answered the last probe or delivery, 0 when it failed, -1 before the first.",
		}, func() float64 {
			up, at := state()
			switch {
			case at.IsZero():
				return -1
			case up:
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latch_mail_relay_checked_timestamp_seconds", Help: "When the SMTP relay was last probed or delivered to (Unix seconds; 0 before the first).",
		}, func() float64 {
			_, at := state()
			if at.IsZero() {
				return 0
			}
			return float64(at.UnixNano()) / 1e9
		}),
	)
}

// Audit counts an engine event; Metrics is an auth.Auditor.
func (m *Metrics) Audit(_ context.Context, e auth.Event) {
	m.events.WithLabelValues(string(e.Kind), e.Method).Inc()
	if e.Kind == auth.EventLoginFailed {
		m.failures.WithLabelValues(e.Method, string(e.Reason)).Inc()
	}
	if e.Kind == auth.EventRateLimited {
		m.rateLimited.WithLabelValues(e.Method).Inc()
	}
}
