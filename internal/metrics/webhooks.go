package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Webhooks are the collectors of webhook deliveries, registered by
// ObserveWebhooks when webhooks are on. Its methods are safe for
// concurrent use.
type Webhooks struct {
	outcomes *prometheus.CounterVec
	duration prometheus.Histogram
}

// webhookOutcomes are the outcomes latch_webhook_events_total counts.
var webhookOutcomes = []string{"queued", "sent", "retried", "dead_lettered", "replayed"}

// ObserveWebhooks registers the webhook collectors: events by outcome,
// the duration of each POST, and at every scrape (bounded to one second)
// the events queued and the dead letters kept, -1 when the store cannot
// say.
func (m *Metrics) ObserveWebhooks(stats func(ctx context.Context) (queued, dead int, err error)) *Webhooks {
	w := &Webhooks{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_webhook_events_total", Help: "Webhook events by outcome: queued, sent (the app answered 2xx), retried (an attempt failed; another follows), dead_lettered (given up on), replayed (queued again by latch events replay).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "latch_webhook_delivery_duration_seconds", Help: "Duration of each webhook POST, from sending to the app's answer (or the failure), whatever the outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, o := range webhookOutcomes {
		w.outcomes.WithLabelValues(o)
	}
	gauge := func(name, help string, pick func(queued, dead int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			q, d, err := stats(ctx)
			if err != nil {
				return -1
			}
			return float64(pick(q, d))
		})
	}
	m.reg.MustRegister(w.outcomes, w.duration,
		gauge("latch_webhook_queue_length", "Webhook events waiting in the durable queue (due, retrying or being posted); -1 when the store cannot say.", func(q, _ int) int { return q }),
		gauge("latch_webhook_dead_letters", "Webhook events given up on and kept for latch events replay; -1 when the store cannot say.", func(_, d int) int { return d }),
	)
	return w
}

// Count counts one event outcome (queued, sent, retried, dead_lettered,
// replayed).
func (w *Webhooks) Count(outcome string) { w.outcomes.WithLabelValues(outcome).Inc() }

// Attempted observes the duration of one POST.
func (w *Webhooks) Attempted(d time.Duration) { w.duration.Observe(d.Seconds()) }
