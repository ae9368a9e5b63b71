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
	DefaultConcurrency    = 4
	DefaultMaxConcurrency = 64
	DefaultMaxAttempts    = 8
	DefaultBaseDelay      = 2 * time.Second
	DefaultMaxDelay       = 5 * time.Minute
	DefaultLease          = time.Minute
	DefaultPollInterval   = time.Second
)

// maxSettleBatch bounds how many claims one Settle ends.
const maxSettleBatch = 1024

// minReady is the least room for claimed mails waiting for a delivery
// slot; the claim loop holds up to twice the slots plus a quarter of it,
// so even a small number of slots is kept busy while the next claim
// commits.
const minReady = 64

// WorkerOptions tune a Worker. Zero values take the defaults.
//
// With the defaults a failing mail is tried 8 times over about four
// minutes (retries after 1–2s, 2–4s, 4–8s, … 64–128s), about the life of
// a 5-minute code; a mail whose challenge expires first is dropped.
type WorkerOptions struct {
	// Concurrency is how many mails are delivered at once to begin with,
	// and the fewest the worker ever allows (4).
	Concurrency int
	// MaxConcurrency bounds the deliveries in flight (64; at least
	// Concurrency). Between the two the worker adapts: it allows more
	// while the relay's latency holds as the load grows, and fewer when
	// the latency rises or deliveries fail for now. Setting it to
	// Concurrency fixes the number.
	MaxConcurrency int
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
	// ConcurrencyChanged, if set, is told every change of the concurrency allowed,
	// for a Transport's pool to follow (smtpmail.Transport.SetPoolSize).
	ConcurrencyChanged func(concurrency int)
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
	if o.MaxConcurrency < 0 {
		errs = append(errs, fmt.Errorf("max concurrency %d is negative", o.MaxConcurrency))
	}
	if o.MaxConcurrency > 0 && o.MaxConcurrency < o.Concurrency {
		errs = append(errs, fmt.Errorf("max concurrency %d is below concurrency %d", o.MaxConcurrency, o.Concurrency))
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
	if o.MaxConcurrency == 0 {
		o.MaxConcurrency = max(DefaultMaxConcurrency, o.Concurrency)
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
//
// One loop claims due mails in batches into a ready buffer; a second
// starts a delivery for each as the delivery slots allow; deliveries hand
// their outcome to a third loop, which ends every claim that finished
// while the previous Settle ran in one more Settle (a group commit). The
// number of slots adapts to the relay's latency between Concurrency and
// MaxConcurrency.
type Worker struct {
	q         *Queue
	renderer  *mail.Renderer
	transport mail.Transport
	opts      WorkerOptions
	limit     *limiter

	inFlight atomic.Int64
	ready    chan claimed   // claimed mails not yet started
	taken    chan struct{}  // the start loop took a ready mail (capacity 1)
	freed    chan struct{}  // a delivery slot came free (capacity 1)
	ended    chan *finished // deliveries' outcomes, for the settle loop

	mu         sync.Mutex
	started    bool
	stop       chan struct{}
	closed     bool
	done       sync.WaitGroup // the two loops
	deliveries sync.WaitGroup
	failing    atomic.Bool // claims are failing; logged once per outage
}

// finished is a delivery's outcome, waiting to be recorded.
type finished struct {
	st    Settlement
	log   *slog.Logger
	cause error         // Retry and Bury: why
	wait  time.Duration // Retry: the backoff
	inbox time.Duration // Ack of a sent mail: time from queued to accepted
	event func()        // Ack without a send: the observer's call (Dropped), or nil
	note  string        // Ack without a send: what to log, at level
	level slog.Level
	// handBack: a Retry of a mail claimed but never started (shutdown).
	handBack bool
}

// NewWorker returns a Worker for q; Start starts it.
func NewWorker(q *Queue, r *mail.Renderer, t mail.Transport, opts WorkerOptions) (*Worker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	w := &Worker{
		q: q, renderer: r, transport: t, opts: opts, stop: make(chan struct{}),
		ready: make(chan claimed, max(minReady, 2*opts.MaxConcurrency)),
		taken: make(chan struct{}, 1),
		freed: make(chan struct{}, 1),
		ended: make(chan *finished, 4*opts.MaxConcurrency),
	}
	w.limit = newLimiter(opts.Concurrency, opts.MaxConcurrency, opts.ConcurrencyChanged)
	if opts.ConcurrencyChanged != nil {
		opts.ConcurrencyChanged(w.limit.current())
	}
	return w, nil
}

// Concurrency is how many deliveries the worker allows in flight now.
func (w *Worker) Concurrency() int { return w.limit.current() }

// InFlight is how many deliveries are in flight now.
func (w *Worker) InFlight() int { return int(w.inFlight.Load()) }

// Start delivers mails in the background until ctx is done or Close is
// called. It starts the worker once; later calls do nothing.
func (w *Worker) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	w.done.Add(3)
	go w.claimLoop(ctx)
	go w.startLoop(ctx)
	go w.settleLoop(ctx)
}

// Close stops claiming mails and waits for the deliveries in flight to
// finish (each is bounded by the Transport's timeout) and be recorded.
// Mails not yet claimed stay queued for the next start or another replica.
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

// claimLoop keeps the ready buffer filled: it claims as many due mails
// as the buffer has room for (twice the delivery slots and some), in one
// Claim, once a quarter of it is free (or it is empty), so that one
// commit serves many mails and deliveries never wait for a claim. When none is due, it sleeps until a local
// enqueue wakes it or the poll interval passes.
func (w *Worker) claimLoop(ctx context.Context) {
	defer w.done.Done()
	defer close(w.ready)
	for {
		if w.stopping(ctx) {
			return
		}
		// Hold enough to keep every slot busy while the next claim
		// commits, and not much more: a mail that waits here holds a
		// lease that another replica could have used.
		room := min(cap(w.ready), 2*w.limit.current()+minReady/4)
		free := room - len(w.ready)
		if len(w.ready) > 0 && free < max(1, room/4) {
			select {
			case <-w.taken:
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			}
			continue
		}
		now := w.q.clock.Now()
		jobs, err := w.q.store.Claim(ctx, now, w.opts.Lease, free)
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
		for _, j := range jobs {
			w.ready <- claimed{job: j, at: now} // room was checked; only this loop sends
		}
		if err == nil && len(jobs) == free {
			continue // more may be due
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

// claimed is a job in the ready buffer.
type claimed struct {
	job *Job
	at  time.Time // when it was claimed
}

// startLoop starts a delivery for each ready mail as soon as the
// adaptive limit allows one more in flight. A mail that waited so long
// that its lease is half gone is left for its lease to end (another
// claim will deliver it); on shutdown the mails still ready are handed
// back to the queue, due at once.
func (w *Worker) startLoop(ctx context.Context) {
	defer w.done.Done()
	defer close(w.ended) // after the deliveries: the settle loop drains and ends
	defer w.deliveries.Wait()
	for c := range w.ready {
		select {
		case w.taken <- struct{}{}:
		default:
		}
		for int(w.inFlight.Load()) >= w.limit.current() && !w.stopping(ctx) {
			select {
			case <-w.freed:
			case <-ctx.Done():
			case <-w.stop:
			}
		}
		if w.stopping(ctx) {
			w.handBack(c)
			continue
		}
		if w.q.clock.Now().Sub(c.at) > w.opts.Lease/2 {
			continue // its lease is mostly spent: let it run out
		}
		w.inFlight.Add(1)
		w.deliveries.Add(1)
		go w.deliver(ctx, c.job)
	}
}

// handBack makes a claimed mail that was never started due again now.
func (w *Worker) handBack(c claimed) {
	c.job.Due = w.q.clock.Now()
	w.deliveries.Add(1)
	go func() {
		defer w.deliveries.Done()
		w.ended <- &finished{st: Settlement{Job: c.job, Outcome: Retry}, log: w.q.log.With("messageId", c.job.ID), handBack: true}
	}()
}

func (w *Worker) stopping(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-w.stop:
		return true
	default:
		return false
	}
}

// deliver takes one claimed job to its outcome: sent, to retry, dropped
// or to bury, and hands the outcome to the settle loop.
func (w *Worker) deliver(ctx context.Context, j *Job) {
	defer w.deliveries.Done()
	f := w.attempt(ctx, j)
	w.inFlight.Add(-1)
	select {
	case w.freed <- struct{}{}:
	default:
	}
	w.ended <- f
}

func (w *Worker) attempt(ctx context.Context, j *Job) *finished {
	q := w.q
	now := q.clock.Now()
	log := q.log.With("messageId", j.ID, "attempt", j.Attempts)
	if !j.Expires.IsZero() && !now.Before(j.Expires) {
		return &finished{st: Settlement{Job: j, Outcome: Ack}, log: log, event: q.obs.Dropped,
			note: "mail dropped: its sign-in expired before it could be delivered", level: slog.LevelInfo}
	}
	p, err := q.open(j)
	if err != nil {
		return w.buried(j, log, fmt.Errorf("open payload: %w", err), now)
	}
	log = log.With("to", auth.MaskEmail(p.Mail.To), "challenge", p.Mail)
	if p.Mail.Suppressed {
		// An address outside the allowed domains: queued only so that the
		// send did the same work as any other.
		return &finished{st: Settlement{Job: j, Outcome: Ack}, log: log,
			note: "mail suppressed: the address is outside the allowed domains", level: slog.LevelDebug}
	}
	msg, err := w.renderer.Render(&p.Mail, p.MessageID, p.Date)
	if err != nil {
		return w.buried(j, log, err, now)
	}
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Lease/2)
	t0 := time.Now()
	err = w.transport.Send(sendCtx, msg)
	took := time.Since(t0)
	cancel()
	err = maskAddress(err, p.Mail.To)
	now = q.clock.Now()
	w.limit.observe(took, int(w.inFlight.Load()), err != nil && !mail.Permanent(err))
	switch {
	case err == nil:
		return &finished{st: Settlement{Job: j, Outcome: Ack}, log: log, inbox: max(0, now.Sub(p.Date))}
	case mail.Permanent(err) || j.Attempts >= w.opts.MaxAttempts:
		return w.buried(j, log, err, now)
	default:
		j.LastError = err.Error()
		wait := Backoff(j.Attempts, w.opts.BaseDelay, w.opts.MaxDelay)
		j.Due = now.Add(wait)
		return &finished{st: Settlement{Job: j, Outcome: Retry}, log: log, cause: err, wait: wait}
	}
}

func (w *Worker) buried(j *Job, log *slog.Logger, cause error, now time.Time) *finished {
	j.LastError = cause.Error()
	return &finished{st: Settlement{Job: j, Outcome: Bury, At: now}, log: log, cause: cause}
}

// settleLoop records outcomes: each Settle ends every claim that finished
// while the one before it ran. The store is asked even when ctx is done,
// so a delivered mail is not delivered again after a restart.
func (w *Worker) settleLoop(ctx context.Context) {
	defer w.done.Done()
	batch := make([]*finished, 0, maxSettleBatch)
	ss := make([]Settlement, 0, maxSettleBatch)
	for f := range w.ended {
		batch = append(batch[:0], f)
	more:
		for len(batch) < maxSettleBatch {
			select {
			case f, ok := <-w.ended:
				if !ok {
					break more
				}
				batch = append(batch, f)
			default:
				break more
			}
		}
		ss = ss[:0]
		for _, f := range batch {
			ss = append(ss, f.st)
		}
		w.settle(ctx, batch, ss)
	}
}

func (w *Worker) settle(ctx context.Context, batch []*finished, ss []Settlement) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	lost, err := w.q.store.Settle(sctx, ss)
	if err != nil {
		w.q.log.Error("mail queue: cannot record delivery state; the mails will be tried again after their lease", "mails", len(ss), "err", err)
		return
	}
	obs := w.q.obs
	for i, f := range batch {
		log := f.log
		if errors.Is(lost[i], ErrLeaseLost) {
			log.Info("mail queue: the claim ended before its outcome was recorded (lease ran out, or a resend replaced the mail)")
			continue
		}
		switch f.st.Outcome {
		case Ack:
			switch {
			case f.note != "":
				call(f.event)
				log.Log(ctx, f.level, f.note, "lastError", f.st.Job.LastError)
			default:
				if obs.Sent != nil {
					obs.Sent(f.inbox)
				}
				log.Debug("mail delivered", "timeToInbox", f.inbox.Round(time.Millisecond))
			}
		case Retry:
			if f.handBack {
				continue
			}
			call(obs.Retried)
			log.Info("mail delivery failed; will retry", "retryIn", f.wait.Round(time.Millisecond), "err", f.cause)
		case Bury:
			call(obs.DeadLettered)
			log.Warn("mail dead-lettered: giving up on it", "permanent", mail.Permanent(f.cause), "err", f.cause)
		}
	}
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
