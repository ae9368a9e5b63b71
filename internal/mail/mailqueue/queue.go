// Package mailqueue is the durable send queue: the engine's login mails are
// sealed and stored at once, and a Worker renders and delivers them with
// retries, on whichever replica claims them first.
//
// The Queue is the engine's auth.Mailer: SendLogin answers as soon as the
// mail is stored. Workers claim due jobs with a lease, drop mails whose
// challenge has expired, send the rest through a mail.Transport, retry
// temporary failures with exponential backoff and jitter, and dead-letter
// a mail after a permanent failure or the last attempt. Delivery is at
// least once; the Message-ID and Date are fixed when the mail is queued,
// so a repeated delivery is the same mail.
package mailqueue

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

var _ auth.Mailer = (*Queue)(nil)

// Observer is told what happens to mails, for metrics. Nil fields are skipped.
// The functions must be quick and safe for concurrent use.
type Observer struct {
	Queued func() // a mail was stored
	// Replaced: a mail was stored in place of a queued one of the same
	// challenge (a resend), which will not be sent.
	Replaced func()
	// Sent: a mail was delivered (the server answered 250), timeToInbox
	// after it was queued.
	Sent         func(timeToInbox time.Duration)
	Retried      func() // a delivery failed and will be tried again
	DeadLettered func() // a mail was given up on (permanent failure or last attempt)
	Dropped      func() // a mail's challenge expired before it could be delivered
}

func call(f func()) {
	if f != nil {
		f()
	}
}

// Options configure a Queue.
type Options struct {
	// Key seals payloads at rest (AES-256-GCM): KeySize bytes, for example
	// KeyFromSecret(SESSION_SECRET). Required.
	Key []byte
	// PreviousKeys still open payloads sealed before a key rotation.
	PreviousKeys [][]byte
	// Domain is the right-hand side of Message-IDs: the From address's
	// domain (mail.Renderer.Domain). Default "localhost".
	Domain string
	// Clock tells the time (the system clock).
	Clock auth.Clock
	// Observer is told what happens to mails.
	Observer Observer
	// Logger reports failed, dropped and dead-lettered mails, never their
	// code or link (slog.Default()).
	Logger *slog.Logger
}

// Queue stores login mails for delivery by Workers.
type Queue struct {
	store  Store
	sealer *sealer
	domain string
	clock  auth.Clock
	obs    Observer
	log    *slog.Logger
	// wake tells this process's workers that a job was just queued, so
	// they need not wait for their next poll.
	wake chan struct{}
}

// New returns a Queue over store.
func New(store Store, opts Options) (*Queue, error) {
	s, err := newSealer(opts.Key, opts.PreviousKeys)
	if err != nil {
		return nil, err
	}
	if opts.Domain == "" {
		opts.Domain = "localhost"
	}
	if opts.Clock == nil {
		opts.Clock = auth.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Queue{store: store, sealer: s, domain: opts.Domain, clock: opts.Clock, obs: opts.Observer, log: opts.Logger, wake: make(chan struct{}, 1)}, nil
}

// payload is what a job carries, sealed.
type payload struct {
	MessageID string
	Date      time.Time
	Mail      auth.LoginMail
}

// SendLogin seals m with a new Message-ID and stores it; a Worker
// delivers it. It returns once the mail is stored durably. A mail of the
// same challenge still in the queue (the mail that a resend renews) is
// replaced: only the newest code and link are sent.
func (q *Queue) SendLogin(ctx context.Context, m *auth.LoginMail) error {
	now := q.clock.Now()
	id := rand.Text()
	plain, err := json.Marshal(payload{MessageID: id + "@" + q.domain, Date: now, Mail: *m})
	if err != nil {
		return fmt.Errorf("mailqueue: encode mail: %w", err)
	}
	j := &Job{ID: id, Payload: q.sealer.seal(id, plain), Due: now, Expires: m.ExpiresAt}
	if m.ChallengeID != "" {
		// A resend's mail replaces the one still queued for its challenge,
		// whose code and link no longer work.
		j.Key = q.sealer.challengeKey(m.ChallengeID)
	}
	replaced, err := q.store.Enqueue(ctx, j)
	if err != nil {
		return fmt.Errorf("mailqueue: enqueue: %w", err)
	}
	call(q.obs.Queued)
	if replaced {
		call(q.obs.Replaced)
	}
	q.nudge()
	return nil
}

// nudge wakes one idle worker loop of this process, if none is pending.
func (q *Queue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// open unseals a job's payload.
func (q *Queue) open(j *Job) (*payload, error) {
	plain, err := q.sealer.open(j.ID, j.Payload)
	if err != nil {
		return nil, err
	}
	var p payload
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("mailqueue: decode payload: %w", err)
	}
	return &p, nil
}

// Stats counts the queued mails and the kept dead letters, for metrics.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	st, err := q.store.Stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("mailqueue: stats: %w", err)
	}
	return st, nil
}

// DeadLetters returns up to limit dead letters, newest first.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	d, err := q.store.DeadLetters(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("mailqueue: dead letters: %w", err)
	}
	return d, nil
}
