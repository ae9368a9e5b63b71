package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/metrics"
)

func TestWebhookMetrics(t *testing.T) {
	m := metrics.New(metrics.Build{})
	if strings.Contains(scrape(t, m), "latch_webhook") {
		t.Fatal("webhook metrics before webhooks are on")
	}
	var storeErr error
	w := m.ObserveWebhooks(func(context.Context) (int, int, error) { return 7, 2, storeErr })
	w.Count("sent")
	w.Count("retried")
	w.Count("retried")
	w.Attempted(20 * time.Millisecond)
	w.Attempted(3 * time.Second)
	text := scrape(t, m)
	for _, want := range []string{
		`latch_webhook_events_total{outcome="sent"} 1`,
		`latch_webhook_events_total{outcome="retried"} 2`,
		`latch_webhook_events_total{outcome="dead_lettered"} 0`,
		`latch_webhook_delivery_duration_seconds_bucket{le="0.025"} 1`,
		`latch_webhook_delivery_duration_seconds_count 2`,
		`latch_webhook_queue_length 7`,
		`latch_webhook_dead_letters 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	storeErr = errors.New("down")
	if text := scrape(t, m); !strings.Contains(text, "latch_webhook_queue_length -1") {
		t.Error("a failing store does not report -1")
	}
}
