package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/mail"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/outbox"
	"github.com/latch-auth/latch/internal/mail/smtpmail"
	"github.com/latch-auth/latch/internal/metrics"
	"github.com/latch-auth/latch/internal/web"
)

// buildMail wires the durable queue (the engine's Mailer), its worker and
// the transport: SMTP when SMTP_URL is set, else the dev outbox. Both go
// through the same queue, so development exercises the production path.
func buildMail(cfg *Config, a *app, secret string, qs mailqueue.Store, m *metrics.Metrics, log *slog.Logger) (auth.Mailer, []web.Check, error) {
	renderer, err := mail.NewRenderer(mail.Brand{AppName: cfg.AppName, AccentColor: cfg.AppAccentColor, From: cfg.MailFrom}, cfg.MailTemplatesDir)
	if err != nil {
		return nil, nil, err
	}
	var transport mail.Transport
	var checks []web.Check
	var relay *relayState     // nil for the dev outbox
	var poolFollows func(int) // the SMTP pool's size follows the delivery concurrency
	if cfg.SMTPURL == "" {
		// Only development prints codes and links to the log, so that a
		// person can click them; test runs keep logs free of secrets.
		var outboxLog *slog.Logger
		if cfg.AppEnv == "development" && cfg.devOutbox {
			outboxLog = log
		}
		ob := outbox.New(outboxLog, outbox.DefaultCapacity)
		transport = ob
		// Served only where validate allowed it; otherwise (a pure
		// upstream deployment, where the engine sends nothing) it only
		// holds what nobody reads.
		if cfg.devOutbox {
			a.outbox = ob
		}
	} else {
		smtp, err := smtpmail.New(smtpmail.Options{URL: cfg.SMTPURL, Timeout: cfg.SMTPTimeout, MaxIdle: cfg.MailWorkers, RequireTLS: cfg.production()})
		if err != nil {
			return nil, nil, err
		}
		poolFollows = smtp.SetPoolSize
		a.closers = append(a.closers, smtp.Close)
		transport = smtp
		relay = &relayState{probe: smtp.Probe, ttl: 30 * time.Second, log: log}
		m.ObserveMailRelay(relay.state)
		checks = append(checks, web.Check{Name: "mail", Fn: relay.check, Optional: true})
	}

	var previous [][]byte
	if cfg.SessionSecretPrevious != "" {
		previous = append(previous, mailqueue.KeyFromSecret(cfg.SessionSecretPrevious))
	}
	count := func(outcome string) func() { return func() { m.Mail(outcome) } }
	sent, retried := m.MailSent, count("retried")
	if relay != nil {
		// A delivery says as much about the relay as a probe, and sooner.
		sent = func(timeToInbox time.Duration) { m.MailSent(timeToInbox); relay.observe(nil) }
		retried = func() { m.Mail("retried"); relay.observe(errDeliveryFailed) }
	}
	q, err := mailqueue.New(qs, mailqueue.Options{
		Key:          mailqueue.KeyFromSecret(secret),
		PreviousKeys: previous,
		Domain:       renderer.Domain(),
		Logger:       log,
		Observer: mailqueue.Observer{
			Queued: count("queued"), Replaced: count("replaced"), Sent: sent, Retried: retried,
			DeadLettered: count("dead_lettered"), Dropped: count("dropped"),
		},
	})
	if err != nil {
		return nil, nil, err
	}
	m.ObserveMailQueue(func(ctx context.Context) (int, error) {
		st, err := q.Stats(ctx)
		return st.Queued, err
	})
	w, err := mailqueue.NewWorker(q, renderer, transport, mailqueue.WorkerOptions{
		Concurrency:        cfg.MailWorkers,
		MaxConcurrency:     cfg.MailConcurrencyMax,
		MaxAttempts:        cfg.MailRetryMaxAttempts,
		BaseDelay:          cfg.MailRetryBaseDelay,
		MaxDelay:           cfg.MailRetryMaxDelay,
		PollInterval:       time.Second,
		ConcurrencyChanged: poolFollows,
	})
	if err != nil {
		return nil, nil, err
	}
	m.ObserveMailDelivery(w.Concurrency, w.InFlight)
	w.Start(context.Background())
	// Closers run last-first: the worker stops (after its current mail)
	// before the transport and the store close.
	a.closers = append(a.closers, w.Close)
	return q, checks, nil
}

// errDeliveryFailed records a failed delivery in relayState; the worker
// logs the delivery's own error.
var errDeliveryFailed = errors.New("a delivery failed")

// relayState is what is known of the SMTP relay: the result of the last
// probe or delivery and when it came. The readiness check probes at most
// once per ttl and answers from it in between, so readiness polls never
// hammer the relay; a delivery in between updates it at once, so the
// answer is never an old "ok" while mail is failing.
type relayState struct {
	probe func(context.Context) error
	ttl   time.Duration
	log   *slog.Logger

	mu       sync.Mutex
	at       time.Time // of the last probe or delivery
	probedAt time.Time
	err      error
}

// observe records the outcome of a probe or delivery.
func (r *relayState) observe(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at, r.err = time.Now(), err
}

func (r *relayState) state() (up bool, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err == nil, r.at
}

// check is the readiness check: nil while the relay answers, else an
// error whose text says what failed and when, for the readiness answer
// (it never quotes the relay's address or reply; those go to the log).
func (r *relayState) check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.probedAt.IsZero() || time.Since(r.probedAt) >= r.ttl {
		err := r.probe(ctx)
		if err != nil {
			r.log.WarnContext(ctx, "mail relay probe failed; mail stays queued and is retried", "err", err)
		}
		r.probedAt = time.Now()
		r.at, r.err = r.probedAt, err
	}
	if r.err == nil {
		return nil
	}
	what := "the relay did not answer the last probe"
	if errors.Is(r.err, errDeliveryFailed) {
		what = "the last delivery failed"
	}
	return fmt.Errorf("%s (%s, %s ago); mail is queued and retried", what, r.at.UTC().Format(time.RFC3339), time.Since(r.at).Round(time.Second))
}
