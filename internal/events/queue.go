// Package events delivers the engine's events to an app as webhooks
// (Standard Webhooks): each event is sealed and stored on a durable job
// queue (a mailqueue.Store beside the mail queue) before the action that
// caused it answers, and a Worker posts it, signed, retrying with backoff
// until the app takes it or the attempts run out. Dead letters keep their
// payload, so an operator can list and replay them.
package events

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

var _ auth.Auditor = (*Queue)(nil)

// KeyFromSecret derives the key that seals queued events at rest from
// SESSION_SECRET, under a purpose of its own (not the mail queue's key).
func KeyFromSecret(secret string) []byte {
	return auth.DeriveKey(secret, "latch webhook queue key v1")
}

// Observer is told what happens to events, for metrics. Nil fields are
// skipped; the functions must be quick and safe for concurrent use.
type Observer struct {
	Queued       func() // an event was stored
	Sent         func() // the app answered 2xx
	Retried      func() // a delivery failed and will be tried again
	DeadLettered func() // an event was given up on
	Replayed     func() // an operator queued a dead letter again
	// Attempted is told the duration of every POST, whatever its outcome.
	Attempted func(time.Duration)
}

func call(f func()) {
	if f != nil {
		f()
	}
}

// Options configure a Queue.
type Options struct {
	// Key seals payloads at rest: mailqueue.KeySize bytes, for example
	// KeyFromSecret(SESSION_SECRET). Required.
	Key []byte
	// PreviousKeys still open payloads sealed before a key rotation.
	PreviousKeys [][]byte
	Clock        auth.Clock // the system clock
	Observer     Observer
	Logger       *slog.Logger // slog.Default()
}

// maxPending bounds the events held in memory while the store refuses
// them; past it the oldest is dropped (and logged).
const maxPending = 10000

// Queue stores events for delivery by a Worker. It is the engine's
// auth.Auditor for the events that are webhook events.
type Queue struct {
	store  mailqueue.Store
	sealer *mailqueue.Sealer
	clock  auth.Clock
	obs    Observer
	log    *slog.Logger
	wake   chan struct{}

	mu      sync.Mutex
	pending []*mailqueue.Job // refused by the store; retried by the Worker
}

// New returns a Queue over store.
func New(store mailqueue.Store, opts Options) (*Queue, error) {
	s, err := mailqueue.NewSealer(opts.Key, opts.PreviousKeys)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = auth.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Queue{store: store, sealer: s, clock: opts.Clock, obs: opts.Observer, log: opts.Logger, wake: make(chan struct{}, 1)}, nil
}

// NewID returns a new webhook-id: "msg_" and 26 random characters.
func NewID() string { return "msg_" + rand.Text() }

// Audit queues e if it is a webhook event. It returns once the event is
// stored durably, so an action's answer comes after its events are safe.
// A store that refuses it (an outage) leaves it in memory, where the
// Worker stores it as soon as the store takes writes again.
func (q *Queue) Audit(ctx context.Context, e auth.Event) {
	body, ok := FromAudit(e, q.clock.Now().Truncate(time.Millisecond))
	if !ok {
		return
	}
	if _, err := q.Publish(context.WithoutCancel(ctx), body); err != nil {
		q.log.Error("webhook event not stored yet; held in memory and stored when the queue takes writes again", "type", body.Type, "err", err)
	}
}

// Publish seals b under a new webhook-id and stores it, returning the
// id. On a store error the job is held in memory for the Worker to store
// (see Audit), and the error is returned.
func (q *Queue) Publish(ctx context.Context, b Body) (string, error) {
	j, err := q.job(b)
	if err != nil {
		return "", err
	}
	if err := q.enqueue(ctx, j); err != nil {
		q.hold(j)
		return j.ID, err
	}
	return j.ID, nil
}

func (q *Queue) job(b Body) (*mailqueue.Job, error) {
	raw, err := b.encode()
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", b.Type, err)
	}
	plain, err := encodeRecord(record{Type: b.Type, Body: raw})
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", b.Type, err)
	}
	id := NewID()
	return &mailqueue.Job{ID: id, Payload: q.sealer.Seal(id, plain), Due: q.clock.Now()}, nil
}

func (q *Queue) enqueue(ctx context.Context, j *mailqueue.Job) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := q.store.Enqueue(ctx, j); err != nil {
		return fmt.Errorf("events: enqueue: %w", err)
	}
	call(q.obs.Queued)
	q.nudge()
	return nil
}

func (q *Queue) hold(j *mailqueue.Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) >= maxPending {
		q.log.Error("webhook event dropped: too many held in memory while the queue refuses writes", "webhookId", q.pending[0].ID)
		q.pending = q.pending[1:]
	}
	q.pending = append(q.pending, j)
}

// storeHeld stores the events held in memory, oldest first, until the
// store refuses one.
func (q *Queue) storeHeld(ctx context.Context) {
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.mu.Unlock()
			return
		}
		j := q.pending[0]
		q.mu.Unlock()
		if err := q.enqueue(ctx, j); err != nil {
			return
		}
		q.mu.Lock()
		if len(q.pending) > 0 && q.pending[0] == j {
			q.pending = q.pending[1:]
		}
		q.mu.Unlock()
		q.log.Info("webhook event stored after an outage of the queue", "webhookId", j.ID)
	}
}

// Held is how many events wait in memory for the store to take them.
func (q *Queue) Held() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

func (q *Queue) nudge() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// open unseals a job's record.
func (q *Queue) open(id string, sealed []byte) (*record, error) {
	plain, err := q.sealer.Open(id, sealed)
	if err != nil {
		return nil, err
	}
	return decodeRecord(plain)
}

// Failed is a dead letter as an operator sees it.
type Failed struct {
	ID        string    `json:"id"` // the webhook-id
	Type      Type      `json:"type"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError"`
	FailedAt  time.Time `json:"failedAt"`
	// Replayable is false for a dead letter whose payload is gone (it no
	// longer opens under the current keys).
	Replayable bool `json:"replayable"`
}

// Failed lists up to limit dead letters, newest first.
func (q *Queue) Failed(ctx context.Context, limit int) ([]Failed, error) {
	dead, err := q.store.DeadLetters(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("events: dead letters: %w", err)
	}
	out := make([]Failed, 0, len(dead))
	for _, d := range dead {
		f := Failed{ID: d.ID, Attempts: d.Attempts, LastError: d.LastError, FailedAt: d.At.UTC().Truncate(time.Millisecond)}
		if r, err := q.open(d.ID, d.Payload); err == nil {
			f.Type, f.Replayable = r.Type, true
		}
		out = append(out, f)
	}
	return out, nil
}

// ErrNotFound means no dead letter has the id (it never failed, was
// replayed already, or was forgotten among more than
// mailqueue.MaxDeadLetters newer ones).
var ErrNotFound = errors.New("events: no failed event has this id")

// Replay queues the dead letter id again, due now, with its webhook-id
// and body unchanged, for a full set of attempts.
func (q *Queue) Replay(ctx context.Context, id string) error {
	err := q.store.Revive(ctx, id, q.clock.Now())
	if errors.Is(err, mailqueue.ErrNoDeadLetter) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("events: replay %s: %w", id, err)
	}
	call(q.obs.Replayed)
	q.nudge()
	return nil
}

// Stats counts the queued events and the kept dead letters.
func (q *Queue) Stats(ctx context.Context) (mailqueue.Stats, error) {
	st, err := q.store.Stats(ctx)
	if err != nil {
		return st, fmt.Errorf("events: stats: %w", err)
	}
	return st, nil
}
