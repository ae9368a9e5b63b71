package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

// Defaults of WorkerOptions.
const (
	DefaultConcurrency  = 4
	DefaultMaxAttempts  = 12
	DefaultBaseDelay    = 5 * time.Second
	DefaultMaxDelay     = time.Hour
	DefaultTimeout      = 10 * time.Second
	DefaultPollInterval = time.Second
)

// maxErrorBody is how much of a refusing answer's body is kept in the
// dead letter's last error.
const maxErrorBody = 200

// WorkerOptions tune a Worker. Zero values take the defaults.
//
// With the defaults an event that keeps failing is tried 12 times over
// about one to two and a half hours (retries after 2.5–5s, 5–10s, …, then
// 30–60 minutes each) and then dead-lettered.
type WorkerOptions struct {
	// URL receives every event (WEBHOOK_URL). Required.
	URL string
	// Secret signs every delivery (WEBHOOK_SECRET). Required.
	Secret Secret
	// Client posts the events; its redirects are not followed (a 3xx is
	// a refusal). Default: an http.Client with Timeout.
	Client *http.Client
	// Timeout bounds one POST, answer included (10s). A claimed event is
	// leased for twice this and 10s: an event whose replica died while
	// posting it is posted again (same webhook-id) after that.
	Timeout time.Duration
	// Concurrency is how many deliveries are in flight at most (4).
	Concurrency int
	// MaxAttempts is how many times an event is posted before it is
	// dead-lettered (12).
	MaxAttempts int
	// BaseDelay is the wait before the first retry (5s), doubled for each
	// retry after it up to MaxDelay (1h), drawn from its upper half
	// (jitter). A Retry-After longer than that is honoured, up to MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// PollInterval is how often the queue is checked for events queued
	// by other replicas and retries that came due (1s).
	PollInterval time.Duration
}

// Validate reports every problem with o.
func (o WorkerOptions) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("no URL"))
	}
	if o.Secret.key == nil {
		errs = append(errs, errors.New("no secret"))
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"timeout", o.Timeout}, {"base delay", o.BaseDelay}, {"max delay", o.MaxDelay}, {"poll interval", o.PollInterval}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", f.name, f.v))
		}
	}
	if o.Concurrency < 0 || o.MaxAttempts < 0 {
		errs = append(errs, errors.New("concurrency and max attempts cannot be negative"))
	}
	if o.BaseDelay > 0 && o.MaxDelay > 0 && o.BaseDelay > o.MaxDelay {
		errs = append(errs, fmt.Errorf("base delay %v exceeds max delay %v", o.BaseDelay, o.MaxDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
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
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &c
	return o
}

// Worker posts the events of a Queue to the app. Run one in every
// replica; they share the work through the Store. Delivery is at least
// once: every attempt of an event carries the same webhook-id and body,
// signed afresh with the time of the attempt.
type Worker struct {
	q     *Queue
	opts  WorkerOptions
	lease time.Duration

	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	freed   chan struct{} // a delivery slot came free (capacity 1)
	loop    sync.WaitGroup
	flights sync.WaitGroup
	inUse   int // slots taken, under mu
	failing bool
}

// leaseFor is the lease of a claim under a POST timeout: twice the
// timeout and the settlement's 10 seconds (30s with the default timeout).
func leaseFor(timeout time.Duration) time.Duration { return 2*timeout + settleTimeout }

// settleTimeout bounds the recording of one outcome.
const settleTimeout = 10 * time.Second

// NewWorker returns a Worker for q; Start starts it.
func NewWorker(q *Queue, opts WorkerOptions) (*Worker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	// A claimed event is leased for well over one POST and its
	// settlement, so no other replica posts it meanwhile; an event whose
	// worker died (kill -9) is posted again once the lease runs out.
	return &Worker{q: q, opts: opts, lease: leaseFor(opts.Timeout), stop: make(chan struct{}), freed: make(chan struct{}, 1)}, nil
}

// Start delivers events in the background until Close. Later calls do
// nothing.
func (w *Worker) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	w.loop.Add(1)
	go w.run()
}

// Close stops claiming events and waits for the deliveries in flight
// (each bounded by the timeout) to be recorded. Events not yet claimed
// stay queued for the next start or another replica; events held in
// memory because the store refused them get one last try.
func (w *Worker) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	w.loop.Wait()
	w.flights.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	w.q.storeHeld(ctx)
	if n := w.q.Held(); n > 0 {
		w.q.log.Error("webhook events lost: the queue refused them until shutdown", "events", n)
	}
	return nil
}

func (w *Worker) free() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opts.Concurrency - w.inUse
}

// run claims as many due events as there are free slots and starts a
// delivery for each; it sleeps until a slot frees, a local event is
// queued, or the poll interval passes.
func (w *Worker) run() {
	defer w.loop.Done()
	ctx := context.Background()
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.q.storeHeld(ctx)
		claimedAll := false
		if n := w.free(); n > 0 {
			jobs, err := w.q.store.Claim(ctx, w.q.clock.Now(), w.lease, n)
			w.noteClaim(err)
			for _, j := range jobs {
				w.mu.Lock()
				w.inUse++
				w.mu.Unlock()
				w.flights.Add(1)
				go w.deliver(ctx, j)
			}
			claimedAll = err == nil && len(jobs) == n
		}
		if claimedAll {
			continue // more may be due once a slot frees
		}
		select {
		case <-w.stop:
			return
		case <-w.q.wake:
		case <-w.freed:
		case <-time.After(w.opts.PollInterval):
		}
	}
}

func (w *Worker) noteClaim(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil && !w.failing:
		w.failing = true
		w.q.log.Warn("webhook queue: cannot claim events; will keep trying", "err", err)
	case err == nil && w.failing:
		w.failing = false
		w.q.log.Info("webhook queue: claiming events again")
	}
}

// deliver posts one claimed event and records the outcome.
func (w *Worker) deliver(ctx context.Context, j *mailqueue.Job) {
	defer w.flights.Done()
	defer func() {
		w.mu.Lock()
		w.inUse--
		w.mu.Unlock()
		select {
		case w.freed <- struct{}{}:
		default:
		}
	}()
	log := w.q.log.With("webhookId", j.ID, "attempt", j.Attempts)
	st := mailqueue.Settlement{Job: j}
	var cause error
	var wait time.Duration
	r, err := w.q.open(j.ID, j.Payload)
	if err != nil {
		// Nothing will open it again: no retry helps.
		cause = err
		st.Outcome = mailqueue.Bury
	} else {
		log = log.With("type", r.Type)
		var retryAfter time.Duration
		retryAfter, cause = w.post(ctx, j.ID, r.Body)
		switch {
		case cause == nil:
			st.Outcome = mailqueue.Ack
		case permanent(cause) || j.Attempts >= w.opts.MaxAttempts:
			st.Outcome = mailqueue.Bury
		default:
			st.Outcome = mailqueue.Retry
			wait = mailqueue.Backoff(j.Attempts, w.opts.BaseDelay, w.opts.MaxDelay)
			if retryAfter > wait {
				wait = min(retryAfter, w.opts.MaxDelay)
			}
		}
	}
	now := w.q.clock.Now()
	switch st.Outcome {
	case mailqueue.Retry:
		j.LastError, j.Due = cause.Error(), now.Add(wait)
	case mailqueue.Bury:
		j.LastError, st.At, st.Keep = cause.Error(), now, true
	}
	sctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	lost, err := w.q.store.Settle(sctx, []mailqueue.Settlement{st})
	switch {
	case err != nil:
		log.Error("webhook queue: cannot record the delivery; the event is posted again after its lease", "err", err)
		return
	case lost[0] != nil:
		log.Info("webhook queue: the claim ended before its outcome was recorded (its lease ran out)")
		return
	}
	obs := w.q.obs
	switch st.Outcome {
	case mailqueue.Ack:
		call(obs.Sent)
		log.Debug("webhook delivered")
	case mailqueue.Retry:
		call(obs.Retried)
		log.Info("webhook delivery failed; will retry", "retryIn", wait.Round(time.Millisecond), "err", cause)
	case mailqueue.Bury:
		call(obs.DeadLettered)
		log.Warn("webhook dead-lettered: giving up on it (latch events failed lists it, latch events replay ID sends it again)", "permanent", permanent(cause), "err", cause)
	}
}

// refusal is an answer other than 2xx.
type refusal struct {
	status int
	body   string
}

func (r *refusal) Error() string {
	if r.body == "" {
		return fmt.Sprintf("the app answered %d", r.status)
	}
	return fmt.Sprintf("the app answered %d: %s", r.status, r.body)
}

// permanent is an answer that no retry will change: a 3xx or 4xx other
// than 408 (timeout), 409 (conflict), 425 (too early) and 429 (slow down).
func permanent(err error) bool {
	var r *refusal
	if !errors.As(err, &r) {
		return false // a timeout or a connection error
	}
	switch {
	case r.status >= 500:
		return false
	case r.status == http.StatusRequestTimeout, r.status == http.StatusConflict, r.status == http.StatusTooEarly, r.status == http.StatusTooManyRequests:
		return false
	}
	return true
}

// post sends one attempt, signed now, and returns a nil error for a
// 2xx, else why not, with the answer's Retry-After (0 when none).
func (w *Worker) post(ctx context.Context, id string, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	now := w.q.clock.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Latch-Webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", w.opts.Secret.Sign(id, now, body))
	t0 := time.Now()
	resp, err := w.opts.Client.Do(req)
	if obs := w.q.obs.Attempted; obs != nil {
		defer func() { obs(time.Since(t0)) }()
	}
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	return retryAfter(resp.Header.Get("Retry-After"), now), &refusal{status: resp.StatusCode, body: string(bytes.ToValidUTF8(bytes.TrimSpace(snippet), nil))}
}

// retryAfter reads a Retry-After of seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
