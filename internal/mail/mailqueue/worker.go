package mailqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/mail"
)

// Defaults of WorkerOptions.
const (
	DefaultConcurrency  = 4
	DefaultMaxAttempts  = 8
	DefaultBaseDelay    = 2 * time.Second
	DefaultMaxDelay     = 5 * time.Minute
	DefaultLease        = time.Minute
	DefaultPollInterval = time.Second
)

// WorkerOptions tune a Worker. Zero values take the defaults.
//
// With the defaults a failing mail is tried 8 times over about four
// minutes (retries after 1–2s, 2–4s, 4–8s, … 64–128s), about the life of
// a 5-minute code; a mail whose challenge expires first is dropped.
type WorkerOptions struct {
	// Concurrency is how many mails are delivered at once (4).
	Concurrency int
	// MaxAttempts is how many times a mail is tried before it is
	// dead-lettered (8).
	MaxAttempts int
	// BaseDelay is the backoff before the first retry (2s); each retry
	// doubles it, up to MaxDelay (5m). The actual wait is drawn between
	// half the delay and the delay (jitter), so replicas do not retry in step.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// Lease is how long a claimed mail is reserved for its worker (1m); a
	// mail whose worker died is delivered by another after it. A send may
	// use half of it, so it must exceed twice the Transport's timeout.
	Lease time.Duration
	// PollInterval is how often the queue is checked for mails queued by
	// other replicas and for retries that came due (1s). Mails queued in
	// this process are picked up at once.
	PollInterval time.Duration
}

// Validate reports every problem with o.
func (o WorkerOptions) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"base delay", o.BaseDelay}, {"max delay", o.MaxDelay}, {"lease", o.Lease}, {"poll interval", o.PollInterval}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", f.name, f.v))
		}
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d is negative", o.Concurrency))
	}
	if o.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max attempts %d is negative", o.MaxAttempts))
	}
	if o.BaseDelay > 0 && o.MaxDelay > 0 && o.BaseDelay > o.MaxDelay {
		errs = append(errs, fmt.Errorf("base delay %v exceeds max delay %v", o.BaseDelay, o.MaxDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mailqueue: %w", err)
	}
	return nil
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BaseDelay == 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = max(DefaultMaxDelay, o.BaseDelay)
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	return o
}

// Worker delivers the mails of a Queue: it renders each with a Renderer
// and sends it through a Transport. Run one in every replica; they share
// the work through the Store.
type Worker struct {
	q         *Queue
	renderer  *mail.Renderer
	transport mail.Transport
	opts      WorkerOptions

	mu      sync.Mutex
	started bool
	stop    chan struct{}
	closed  bool
	done    sync.WaitGroup
	failing atomic.Bool // claims are failing; logged once per outage
}

// NewWorker returns a Worker for q; Start starts it.
func NewWorker(q *Queue, r *mail.Renderer, t mail.Transport, opts WorkerOptions) (*Worker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Worker{q: q, renderer: r, transport: t, opts: opts.withDefaults(), stop: make(chan struct{})}, nil
}

// Start delivers mails in the background, Concurrency at a time, until
// ctx is done or Close is called. It starts the worker once; later calls
// do nothing.
func (w *Worker) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	for range w.opts.Concurrency {
		w.done.Add(1)
		go w.run(ctx)
	}
}

// Close stops claiming mails and waits for the deliveries in flight to
// finish (each is bounded by the Transport's timeout). Mails not yet
// claimed stay queued for the next start or another replica.
func (w *Worker) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	w.done.Wait()
	return nil
}

// run is one delivery loop: claim one due mail, deliver it, repeat; when
// none is due, sleep until a local enqueue wakes it or the poll interval
// passes. Claiming one at a time keeps each lease as short as one
// delivery; stores that batch writes (bbolt) merge the loops' claims.
func (w *Worker) run(ctx context.Context) {
	defer w.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		default:
		}
		jobs, err := w.q.store.Claim(ctx, w.q.clock.Now(), w.opts.Lease, 1)
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			if w.failing.CompareAndSwap(false, true) {
				w.q.log.Warn("mail queue: cannot claim mails; will keep trying", "err", err)
			}
		} else if w.failing.CompareAndSwap(true, false) {
			w.q.log.Info("mail queue: claiming mails again")
		}
		if len(jobs) > 0 {
			w.q.nudge() // more may be due: let an idle loop look too
			for _, j := range jobs {
				w.deliver(ctx, j)
			}
			continue
		}
		select {
		case <-w.q.wake:
		case <-time.After(w.opts.PollInterval):
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		}
	}
}

// deliver handles one claimed job to its end: sent, retried, dropped or buried.
func (w *Worker) deliver(ctx context.Context, j *Job) {
	q := w.q
	now := q.clock.Now()
	log := q.log.With("messageId", j.ID, "attempt", j.Attempts)
	if !j.Expires.IsZero() && !now.Before(j.Expires) {
		if w.ack(ctx, log, j) {
			call(q.obs.Dropped)
			log.Info("mail dropped: its sign-in expired before it could be delivered", "lastError", j.LastError)
		}
		return
	}
	p, err := q.open(j)
	if err != nil {
		w.bury(ctx, log, j, fmt.Errorf("open payload: %w", err), now)
		return
	}
	log = log.With("to", auth.MaskEmail(p.Mail.To), "challenge", p.Mail)
	if p.Mail.Suppressed {
		// An address outside the allowed domains: queued only so that the
		// send did the same work as any other.
		if w.ack(ctx, log, j) {
			log.Debug("mail suppressed: the address is outside the allowed domains")
		}
		return
	}
	msg, err := w.renderer.Render(&p.Mail, p.MessageID, p.Date)
	if err != nil {
		w.bury(ctx, log, j, err, now)
		return
	}
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Lease/2)
	err = w.transport.Send(sendCtx, msg)
	cancel()
	err = maskAddress(err, p.Mail.To)
	now = q.clock.Now()
	switch {
	case err == nil:
		if w.ack(ctx, log, j) {
			call(q.obs.Sent)
			log.Debug("mail delivered")
		}
	case mail.Permanent(err) || j.Attempts >= w.opts.MaxAttempts:
		w.bury(ctx, log, j, err, now)
	default:
		j.LastError = err.Error()
		wait := Backoff(j.Attempts, w.opts.BaseDelay, w.opts.MaxDelay)
		j.Due = now.Add(wait)
		if w.finish(ctx, log, "retry", func(ctx context.Context) error { return q.store.Retry(ctx, j) }) {
			call(q.obs.Retried)
			log.Info("mail delivery failed; will retry", "retryIn", wait.Round(time.Millisecond), "err", err)
		}
	}
}

func (w *Worker) bury(ctx context.Context, log *slog.Logger, j *Job, cause error, now time.Time) {
	j.LastError = cause.Error()
	if w.finish(ctx, log, "bury", func(ctx context.Context) error { return w.q.store.Bury(ctx, j, now) }) {
		call(w.q.obs.DeadLettered)
		log.Warn("mail dead-lettered: giving up on it", "permanent", mail.Permanent(cause), "err", cause)
	}
}

// finish records the end of a claim in the store with op and reports
// whether it did. The store is asked even when ctx is done, so a delivered
// mail is not delivered again after a restart.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, name string, op func(context.Context) error) bool {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := op(sctx)
	switch {
	case errors.Is(err, ErrLeaseLost):
		log.Info("mail queue: lease ran out; another worker has the mail", "op", name)
		return false
	case err != nil:
		log.Error("mail queue: cannot record delivery state; the mail will be tried again after its lease", "op", name, "err", err)
		return false
	}
	return true
}

func (w *Worker) ack(ctx context.Context, log *slog.Logger, j *Job) bool {
	return w.finish(ctx, log, "ack", func(ctx context.Context) error { return w.q.store.Ack(ctx, j) })
}

// Backoff is the wait before the retry that follows attempt (1 for the
// first try): base doubled per attempt before it, capped at maxDelay, then
// drawn uniformly from its upper half (jitter).
func Backoff(attempt int, base, maxDelay time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	if d > maxDelay || d <= 0 {
		d = maxDelay
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// maskedError is a delivery error whose text names the recipient only in
// masked form (SMTP replies often quote the address), for logs and dead
// letters. Unwrap keeps the original for errors.As (mail.Permanent).
type maskedError struct {
	text string
	err  error
}

func (e *maskedError) Error() string { return e.text }
func (e *maskedError) Unwrap() error { return e.err }

func maskAddress(err error, addr string) error {
	if err == nil || addr == "" || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(addr)) {
		return err
	}
	text := err.Error()
	for {
		i := strings.Index(strings.ToLower(text), strings.ToLower(addr))
		if i < 0 {
			break
		}
		text = text[:i] + auth.MaskEmail(addr) + text[i+len(addr):]
	}
	return &maskedError{text: text, err: err}
}
