package main

import (
	"context"
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
	if cfg.SMTPURL == "" {
		// Only development prints codes and links to the log, so that a
		// person can click them; test runs keep logs free of secrets.
		var outboxLog *slog.Logger
		if cfg.AppEnv == "development" {
			outboxLog = log
		}
		a.outbox = outbox.New(outboxLog, outbox.DefaultCapacity)
		transport = a.outbox
	} else {
		smtp, err := smtpmail.New(smtpmail.Options{URL: cfg.SMTPURL, Timeout: cfg.SMTPTimeout})
		if err != nil {
			return nil, nil, err
		}
		a.closers = append(a.closers, smtp.Close)
		transport = smtp
		checks = append(checks, web.Check{Name: "mail", Fn: cachedProbe(smtp.Probe, 30*time.Second)})
	}

	var previous [][]byte
	if cfg.SessionSecretPrevious != "" {
		previous = append(previous, mailqueue.KeyFromSecret(cfg.SessionSecretPrevious))
	}
	count := func(outcome string) func() { return func() { m.Mail(outcome) } }
	q, err := mailqueue.New(qs, mailqueue.Options{
		Key:          mailqueue.KeyFromSecret(secret),
		PreviousKeys: previous,
		Domain:       renderer.Domain(),
		Logger:       log,
		Observer: mailqueue.Observer{
			Queued: count("queued"), Sent: count("sent"), Retried: count("retried"),
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
		Concurrency:  cfg.MailWorkers,
		MaxAttempts:  cfg.MailRetryMaxAttempts,
		BaseDelay:    cfg.MailRetryBaseDelay,
		MaxDelay:     cfg.MailRetryMaxDelay,
		PollInterval: time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	w.Start(context.Background())
	// Closers run last-first: the worker stops (after its current mail)
	// before the transport and the store close.
	a.closers = append(a.closers, w.Close)
	return q, checks, nil
}

// cachedProbe runs probe at most once per ttl and answers from the last
// result in between, so readiness polls never hammer the SMTP server.
func cachedProbe(probe func(context.Context) error, ttl time.Duration) func(context.Context) error {
	var mu sync.Mutex
	var last time.Time
	var lastErr error
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && time.Since(last) < ttl {
			return lastErr
		}
		lastErr = probe(ctx)
		last = time.Now()
		return lastErr
	}
}
