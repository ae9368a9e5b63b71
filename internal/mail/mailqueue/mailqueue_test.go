package mailqueue_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/mail"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/mailqueue/mailqueuetest"
	"github.com/latch-auth/latch/internal/mail/outbox"
)

func TestMemoryStore(t *testing.T) {
	open := func(*testing.T) mailqueue.Store { return mailqueue.NewMemoryStore() }
	mailqueuetest.TestStore(t, open)
	mailqueuetest.TestDelivery(t, open)
}

func mustQueue(t *testing.T, s mailqueue.Store, obs mailqueue.Observer) *mailqueue.Queue {
	t.Helper()
	q, err := mailqueue.New(s, mailqueue.Options{Key: mailqueuetest.Key, Domain: "latch.test", Observer: obs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func mustRenderer(t testing.TB) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer(mail.Brand{From: "Latch <no-reply@latch.test>"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDevOutboxIsFedByTheQueue(t *testing.T) {
	box := outbox.New(nil, 10)
	q := mustQueue(t, mailqueue.NewMemoryStore(), mailqueue.Observer{})
	w, err := mailqueue.NewWorker(q, mustRenderer(t), box, mailqueuetest.QuickRetries)
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	defer w.Close()
	m := mailqueuetest.NewLoginMail("dev@example.com")
	mailqueuetest.MustSend(t, q, m)
	mailqueuetest.Eventually(t, "the outbox", func() bool { return len(box.Messages("dev@example.com")) == 1 })
	got := box.Messages("dev@example.com")[0]
	if got.Code != m.Code || got.Link != m.Link || got.ChallengeID != m.ChallengeID || !strings.Contains(got.Text, m.Code) {
		t.Fatalf("outbox message %+v lacks the code, link or challenge of %+v", got, m)
	}
	if !strings.HasSuffix(got.ID, "@latch.test") || got.Date.IsZero() {
		t.Fatalf("outbox message ID %q, date %v", got.ID, got.Date)
	}
}

// flakyStore fails its first claims, like a store that is briefly down.
func TestSuppressedMailIsDroppedNotSent(t *testing.T) {
	box := outbox.New(nil, 10)
	store := mailqueue.NewMemoryStore()
	q := mustQueue(t, store, mailqueue.Observer{})
	w, err := mailqueue.NewWorker(q, mustRenderer(t), box, mailqueuetest.QuickRetries)
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	defer w.Close()
	hidden := mailqueuetest.NewLoginMail("eve@elsewhere.test")
	hidden.Suppressed, hidden.Code, hidden.Link = true, "", ""
	mailqueuetest.MustSend(t, q, hidden)
	shown := mailqueuetest.NewLoginMail("ada@example.com")
	mailqueuetest.MustSend(t, q, shown)
	mailqueuetest.Eventually(t, "the queue to empty", func() bool {
		st, err := q.Stats(context.Background())
		return err == nil && st.Queued == 0 && len(box.Messages("ada@example.com")) == 1
	})
	if n := len(box.Messages("eve@elsewhere.test")); n != 0 {
		t.Fatalf("a suppressed mail was delivered (%d)", n)
	}
	if st, _ := q.Stats(context.Background()); st.DeadLetters != 0 {
		t.Fatalf("a suppressed mail was dead-lettered: %+v", st)
	}
}

type flakyStore struct {
	mailqueue.Store
	failures atomic.Int64
}

func (s *flakyStore) Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*mailqueue.Job, error) {
	if s.failures.Add(-1) >= 0 {
		return nil, errors.New("store down")
	}
	return s.Store.Claim(ctx, now, lease, n)
}

func TestWorkerRidesOutStoreFailures(t *testing.T) {
	s := &flakyStore{Store: mailqueue.NewMemoryStore()}
	s.failures.Store(3)
	box := outbox.New(nil, 10)
	q := mustQueue(t, s, mailqueue.Observer{})
	w, err := mailqueue.NewWorker(q, mustRenderer(t), box, mailqueuetest.QuickRetries)
	if err != nil {
		t.Fatal(err)
	}
	mailqueuetest.MustSend(t, q, mailqueuetest.NewLoginMail("a@example.com"))
	w.Start(context.Background())
	defer w.Close()
	mailqueuetest.Eventually(t, "delivery after the store came back", func() bool { return len(box.Messages("")) == 1 })
}

// blockingTransport holds each send until released.
type blockingTransport struct {
	started chan struct{}
	release chan struct{}
	sent    atomic.Int64
}

func (b *blockingTransport) Send(context.Context, *mail.Message) error {
	b.started <- struct{}{}
	<-b.release
	b.sent.Add(1)
	return nil
}

func TestCloseFinishesTheMailInFlight(t *testing.T) {
	s := mailqueue.NewMemoryStore()
	tr := &blockingTransport{started: make(chan struct{}, 10), release: make(chan struct{})}
	q := mustQueue(t, s, mailqueue.Observer{})
	opts := mailqueuetest.QuickRetries
	opts.Concurrency, opts.MaxConcurrency = 1, 1
	w, err := mailqueue.NewWorker(q, mustRenderer(t), tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.Start(ctx)
	mailqueuetest.MustSend(t, q, mailqueuetest.NewLoginMail("one@example.com"))
	mailqueuetest.MustSend(t, q, mailqueuetest.NewLoginMail("two@example.com"))
	<-tr.started
	cancel() // shutdown begins while a mail is being sent
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned before the mail in flight was sent")
	case <-time.After(50 * time.Millisecond):
	}
	close(tr.release)
	<-closed
	if tr.sent.Load() != 1 {
		t.Fatalf("%d sent, want 1 (the one in flight)", tr.sent.Load())
	}
	if st, _ := s.Stats(context.Background()); st.Queued != 1 {
		t.Fatalf("Stats %+v after Close, want the unsent mail still queued", st)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	tr := &blockingTransport{started: make(chan struct{}, 100), release: make(chan struct{})}
	q := mustQueue(t, mailqueue.NewMemoryStore(), mailqueue.Observer{})
	opts := mailqueuetest.QuickRetries
	opts.Concurrency, opts.MaxConcurrency = 3, 3
	w, err := mailqueue.NewWorker(q, mustRenderer(t), tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		mailqueuetest.MustSend(t, q, mailqueuetest.NewLoginMail("many@example.com"))
	}
	w.Start(context.Background())
	for range 3 {
		<-tr.started
	}
	select {
	case <-tr.started:
		t.Fatal("a fourth send started with Concurrency 3")
	case <-time.After(100 * time.Millisecond):
	}
	close(tr.release)
	mailqueuetest.Eventually(t, "all sent", func() bool { return tr.sent.Load() == 10 })
	w.Close()
}

func TestOptionsAreChecked(t *testing.T) {
	s := mailqueue.NewMemoryStore()
	if _, err := mailqueue.New(s, mailqueue.Options{}); err == nil {
		t.Error("New without a key succeeded")
	}
	if _, err := mailqueue.New(s, mailqueue.Options{Key: []byte("too short")}); err == nil {
		t.Error("New with a short key succeeded")
	}
	if len(mailqueue.KeyFromSecret("a session secret of enough length")) != mailqueue.KeySize {
		t.Error("KeyFromSecret returns a key of the wrong size")
	}
	q := mustQueue(t, s, mailqueue.Observer{})
	for _, c := range []struct {
		name string
		opts mailqueue.WorkerOptions
	}{
		{"negative concurrency", mailqueue.WorkerOptions{Concurrency: -1}},
		{"negative max concurrency", mailqueue.WorkerOptions{MaxConcurrency: -1}},
		{"max concurrency below the start", mailqueue.WorkerOptions{Concurrency: 8, MaxConcurrency: 4}},
		{"negative attempts", mailqueue.WorkerOptions{MaxAttempts: -1}},
		{"negative delay", mailqueue.WorkerOptions{BaseDelay: -time.Second}},
		{"base over max", mailqueue.WorkerOptions{BaseDelay: time.Minute, MaxDelay: time.Second}},
	} {
		if _, err := mailqueue.NewWorker(q, mustRenderer(t), outbox.New(nil, 1), c.opts); err == nil {
			t.Errorf("%s: NewWorker succeeded", c.name)
		}
	}
}

// slowTransport takes delay per message whatever the load, like a relay
// far away, and records the most sends it had at once.
type slowTransport struct {
	delay     time.Duration
	now, most atomic.Int64
	sent      atomic.Int64
}

func (s *slowTransport) Send(context.Context, *mail.Message) error {
	n := s.now.Add(1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(s.delay)
	s.now.Add(-1)
	s.sent.Add(1)
	return nil
}

// A relay that takes 20 ms a message gets many messages at once: the
// worker grows from its start of 2 towards its bound, and the pool told
// of it follows.
func TestConcurrencyGrowsForASlowRelay(t *testing.T) {
	// 50 ms a message: long beside what rendering and scheduling add on a
	// busy machine under -race, which the limit would read as a queue at
	// the relay (at 20 ms it once did, and held the limit down).
	tr := &slowTransport{delay: 50 * time.Millisecond}
	q := mustQueue(t, mailqueue.NewMemoryStore(), mailqueue.Observer{})
	var told atomic.Int64
	opts := mailqueuetest.QuickRetries
	opts.Concurrency, opts.MaxConcurrency = 2, 32
	opts.ConcurrencyChanged = func(n int) {
		for m := told.Load(); int64(n) > m && !told.CompareAndSwap(m, int64(n)); m = told.Load() {
		}
	}
	w, err := mailqueue.NewWorker(q, mustRenderer(t), tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	for range n {
		mailqueuetest.MustSend(t, q, mailqueuetest.NewLoginMail("far@example.com"))
	}
	w.Start(context.Background())
	defer w.Close()
	mailqueuetest.Eventually(t, "all sent", func() bool { return tr.sent.Load() == n })
	if most := tr.most.Load(); most < 16 || most > 32 {
		t.Fatalf("at most %d sends at once, want 16 to 32 (started at 2, bound 32)", most)
	}
	if got := told.Load(); got < 16 {
		t.Fatalf("the pool was told at most %d, want the grown concurrency", got)
	}
}
