package metrics_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestEventsAndRequestsAreCounted(t *testing.T) {
	m := metrics.New(metrics.Build{Version: "1.2.3", Commit: "abc"})
	ctx := context.Background()
	m.Audit(ctx, auth.Event{Kind: auth.EventLoginFailed, Method: "code", Reason: auth.CodeExpired})
	m.Audit(ctx, auth.Event{Kind: auth.EventRateLimited, Method: "ip"})
	m.ObserveRequest("GET /api/me", "GET", 200, time.Millisecond)
	m.ObserveRequest("unmatched", "BREW", 405, time.Millisecond)
	m.Mail("sent")
	text := scrape(t, m)
	for _, want := range []string{
		`latch_login_failures_total{method="code",reason="expired"} 1`,
		`latch_rate_limited_total{limit="ip"} 1`,
		`latch_http_requests_total{method="GET",route="GET /api/me",status="200"} 1`,
		`latch_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
		`latch_mail_total{outcome="sent"} 1`,
		`latch_mail_total{outcome="dead_lettered"} 0`,
		`latch_build_info{commit="abc"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "BREW") {
		t.Error("an unknown method became a label value")
	}
}

func TestMailDeliveryMetrics(t *testing.T) {
	m := metrics.New(metrics.Build{})
	m.MailSent(30 * time.Millisecond)
	m.MailSent(2 * time.Second)
	m.Mail("replaced")
	m.ObserveMailDelivery(func() int { return 17 }, func() int { return 5 })
	text := scrape(t, m)
	for _, want := range []string{
		`latch_mail_total{outcome="sent"} 2`,
		`latch_mail_total{outcome="replaced"} 1`,
		`latch_mail_time_to_inbox_seconds_bucket{le="0.05"} 1`,
		`latch_mail_time_to_inbox_seconds_bucket{le="2.5"} 2`,
		`latch_mail_time_to_inbox_seconds_count 2`,
		`latch_mail_delivery_concurrency 17`,
		`latch_mail_deliveries_in_flight 5`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
