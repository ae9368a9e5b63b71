package mailqueuetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/mail"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
	"github.com/latch-auth/latch/internal/mail/smtpmail"
	"github.com/latch-auth/latch/internal/mail/smtpmail/smtptest"
)

// Wait is how long the suites wait for a delivery.
const Wait = 15 * time.Second

// Counters count the Observer's calls.
type Counters struct {
	Queued, Replaced, Sent, Retried, DeadLettered, Dropped atomic.Int64
	// SentAfter sums the time to inbox of the sent mails, in nanoseconds.
	SentAfter atomic.Int64
}

// Observer returns an Observer that counts into c.
func (c *Counters) Observer() mailqueue.Observer {
	return mailqueue.Observer{
		Queued:       func() { c.Queued.Add(1) },
		Replaced:     func() { c.Replaced.Add(1) },
		Sent:         func(d time.Duration) { c.Sent.Add(1); c.SentAfter.Add(int64(d)) },
		Retried:      func() { c.Retried.Add(1) },
		DeadLettered: func() { c.DeadLettered.Add(1) },
		Dropped:      func() { c.Dropped.Add(1) },
	}
}

// Rig is a queue, a worker and an SMTP transport wired to a test server.
type Rig struct {
	Queue    *mailqueue.Queue
	Worker   *mailqueue.Worker
	Counters *Counters
}

// QuickRetries are worker options that retry within milliseconds.
var QuickRetries = mailqueue.WorkerOptions{
	BaseDelay:    10 * time.Millisecond,
	MaxDelay:     50 * time.Millisecond,
	PollInterval: 20 * time.Millisecond,
	Lease:        10 * time.Second,
	MaxAttempts:  1000,
}

// Key is the sealing key the suites use, so a reopened store's mails open.
var Key = bytes.Repeat([]byte{7}, mailqueue.KeySize)

// StartRig starts a worker over store that delivers to srv; it is closed
// when the test ends (or earlier, by Close).
func StartRig(t testing.TB, store mailqueue.Store, srv *smtptest.Server, opts mailqueue.WorkerOptions) *Rig {
	t.Helper()
	c := &Counters{}
	q, err := mailqueue.New(store, mailqueue.Options{Key: Key, Domain: "latch.test", Observer: c.Observer(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("mailqueue.New: %v", err)
	}
	r, err := mail.NewRenderer(mail.Brand{AppName: "Latch", From: "Latch <no-reply@latch.test>"}, "")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := smtpmail.New(smtpmail.Options{URL: srv.URL(""), TLSConfig: srv.ClientTLS(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	w, err := mailqueue.NewWorker(q, r, tr, opts)
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	w.Start(context.Background())
	t.Cleanup(func() { w.Close() })
	return &Rig{Queue: q, Worker: w, Counters: c}
}

// NewLoginMail returns a login mail to to that expires in five minutes.
func NewLoginMail(to string) *auth.LoginMail {
	return &auth.LoginMail{
		ChallengeID: rand.Text(),
		To:          to,
		Type:        auth.TypeLinkOTP,
		Template:    auth.TemplateSignIn,
		Code:        fmt.Sprintf("%06d", time.Now().UnixNano()%1000000),
		Link:        "https://latch.test/api/auth/passwordless/verify?link_token=" + rand.Text(),
		Expiry:      5 * time.Minute,
		ExpiresAt:   time.Now().Add(5 * time.Minute),
	}
}

// MustSend queues m.
func MustSend(t testing.TB, q *mailqueue.Queue, m *auth.LoginMail) {
	t.Helper()
	if err := q.SendLogin(context.Background(), m); err != nil {
		t.Fatalf("SendLogin: %v", err)
	}
}

// Eventually waits until cond holds.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CheckDelivered asserts that every mail arrived exactly once, with its code.
func CheckDelivered(t testing.TB, got []*smtptest.Message, want ...*auth.LoginMail) {
	t.Helper()
	byTo := map[string][]*smtptest.Message{}
	for _, m := range got {
		byTo[m.To[0]] = append(byTo[m.To[0]], m)
	}
	for _, w := range want {
		ms := byTo[w.To]
		if len(ms) != 1 {
			t.Fatalf("%d mails to %s, want 1", len(ms), w.To)
		}
		if !strings.Contains(ms[0].Text(), w.Code) || !strings.Contains(ms[0].Header.Get("Subject"), w.Code) {
			t.Fatalf("mail to %s lacks its code %s", w.To, w.Code)
		}
	}
}

// TestDelivery runs a queue over stores from open end to end, through
// smtpmail to a real SMTP server in the process.
func TestDelivery(t *testing.T, open OpenStore) {
	t.Run("RetriesKeepTheMessageID", func(t *testing.T) { testRetriesKeepMessageID(t, open(t)) })
	t.Run("OutageLosesNothing", func(t *testing.T) { testOutage(t, open(t)) })
	t.Run("PermanentFailureIsDeadLettered", func(t *testing.T) { testPermanent(t, open(t)) })
	t.Run("LastAttemptIsDeadLettered", func(t *testing.T) { testLastAttempt(t, open(t)) })
	t.Run("ExpiredMailIsDropped", func(t *testing.T) { testExpired(t, open(t)) })
	t.Run("PayloadIsSealed", func(t *testing.T) { testSealed(t, open(t)) })
	t.Run("ResendReplacesTheQueuedMail", func(t *testing.T) { testResendReplaces(t, open(t)) })
	t.Run("BurstIsDeliveredWhole", func(t *testing.T) { testBurst(t, open(t)) })
}

func testRetriesKeepMessageID(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{Security: smtptest.StartTLS})
	var tries atomic.Int64
	srv.SetHandler(func(*smtptest.Message) error {
		if tries.Add(1) <= 2 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
		}
		return nil
	})
	rig := StartRig(t, s, srv, QuickRetries)
	m := NewLoginMail("ada@example.com")
	MustSend(t, rig.Queue, m)
	got := srv.WaitMessages(t, 1, Wait)
	CheckDelivered(t, got, m)
	attempts := srv.Attempts()
	if len(attempts) != 3 {
		t.Fatalf("%d attempts, want 3", len(attempts))
	}
	for _, a := range attempts {
		if !bytes.Equal(a.Raw, attempts[0].Raw) {
			t.Fatalf("a retry sent a different message:\n%s\n---\n%s", a.Raw, attempts[0].Raw)
		}
	}
	id := got[0].Header.Get("Message-Id")
	if !strings.HasSuffix(id, "@latch.test>") {
		t.Fatalf("Message-ID %q, want one at the queue's domain", id)
	}
	c := rig.Counters
	Eventually(t, "counters", func() bool { return c.Sent.Load() == 1 })
	if c.Queued.Load() != 1 || c.Retried.Load() != 2 || c.DeadLettered.Load() != 0 {
		t.Fatalf("queued %d retried %d dead %d, want 1 2 0", c.Queued.Load(), c.Retried.Load(), c.DeadLettered.Load())
	}
	Eventually(t, "an empty queue", func() bool { st, _ := rig.Queue.Stats(context.Background()); return st.Queued == 0 })
}

func testOutage(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.Stop()
	rig := StartRig(t, s, srv, QuickRetries)
	var mails []*auth.LoginMail
	for i := range 5 {
		m := NewLoginMail(fmt.Sprintf("user%d@example.com", i))
		MustSend(t, rig.Queue, m) // the server is down; queuing still succeeds
		mails = append(mails, m)
	}
	Eventually(t, "failed attempts", func() bool { return rig.Counters.Retried.Load() >= 5 })
	if st, err := rig.Queue.Stats(context.Background()); err != nil || st.Queued != 5 {
		t.Fatalf("during the outage Stats = %+v, %v; want 5 queued", st, err)
	}
	srv.Restart(t)
	CheckDelivered(t, srv.WaitMessages(t, 5, Wait), mails...)
	Eventually(t, "an empty queue", func() bool { st, _ := rig.Queue.Stats(context.Background()); return st.Queued == 0 })
	if n := rig.Counters.DeadLettered.Load(); n != 0 {
		t.Fatalf("%d mails dead-lettered during a short outage", n)
	}
}

func testPermanent(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.SetHandler(func(*smtptest.Message) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	})
	rig := StartRig(t, s, srv, QuickRetries)
	MustSend(t, rig.Queue, NewLoginMail("gone@example.com"))
	Eventually(t, "a dead letter", func() bool { return rig.Counters.DeadLettered.Load() == 1 })
	checkDeadLetter(t, rig.Queue, 1, "550")
	if n := len(srv.Attempts()); n != 1 {
		t.Fatalf("%d attempts after a permanent failure, want 1", n)
	}
}

func testLastAttempt(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.SetHandler(func(*smtptest.Message) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	})
	opts := QuickRetries
	opts.MaxAttempts = 3
	rig := StartRig(t, s, srv, opts)
	MustSend(t, rig.Queue, NewLoginMail("busy@example.com"))
	Eventually(t, "a dead letter", func() bool { return rig.Counters.DeadLettered.Load() == 1 })
	checkDeadLetter(t, rig.Queue, 3, "451")
	if n, r := len(srv.Attempts()), rig.Counters.Retried.Load(); n != 3 || r != 2 {
		t.Fatalf("%d attempts and %d retries, want 3 and 2", n, r)
	}
}

func checkDeadLetter(t *testing.T, q *mailqueue.Queue, attempts int, reply string) {
	t.Helper()
	ctx := context.Background()
	Eventually(t, "stats", func() bool { st, _ := q.Stats(ctx); return st.DeadLetters == 1 && st.Queued == 0 })
	dead, err := q.DeadLetters(ctx, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("DeadLetters = %v, %v; want one", dead, err)
	}
	if dead[0].Attempts != attempts || !strings.Contains(dead[0].LastError, reply) {
		t.Fatalf("dead letter %+v, want %d attempts and the %s reply", dead[0], attempts, reply)
	}
	if dead[0].Payload != nil {
		t.Fatal("a mail's dead letter kept its payload (the code and link in it are secrets)")
	}
}

func testExpired(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{})
	rig := StartRig(t, s, srv, QuickRetries)
	late := NewLoginMail("late@example.com")
	late.ExpiresAt = time.Now().Add(-time.Second)
	MustSend(t, rig.Queue, late)
	onTime := NewLoginMail("ontime@example.com")
	MustSend(t, rig.Queue, onTime)
	CheckDelivered(t, srv.WaitMessages(t, 1, Wait), onTime)
	Eventually(t, "a dropped mail", func() bool { return rig.Counters.Dropped.Load() == 1 })
	if n := len(srv.Attempts()); n != 1 {
		t.Fatalf("%d attempts, want 1 (the expired mail is not sent)", n)
	}
}

func testSealed(t *testing.T, s mailqueue.Store) {
	q, err := mailqueue.New(s, mailqueue.Options{Key: Key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := NewLoginMail("secret.person@example.com")
	MustSend(t, q, m)
	jobs, err := s.Claim(context.Background(), time.Now(), time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Claim = %d jobs, %v", len(jobs), err)
	}
	for _, secret := range []string{m.Code, m.Link, m.To, m.ChallengeID} {
		if bytes.Contains(jobs[0].Payload, []byte(secret)) {
			t.Fatalf("the stored payload shows %q", secret)
		}
		if strings.Contains(jobs[0].Key, secret) {
			t.Fatalf("the stored key shows %q", secret)
		}
	}
	if jobs[0].Key == "" {
		t.Fatal("a login mail was queued without a key for its challenge")
	}
}

// testResendReplaces queues a mail, then its resend (same challenge, new
// code) before any worker runs: only the resend's mail is delivered.
func testResendReplaces(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{})
	c := &Counters{}
	q, err := mailqueue.New(s, mailqueue.Options{Key: Key, Domain: "latch.test", Observer: c.Observer(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	first := NewLoginMail("again@example.com")
	MustSend(t, q, first)
	resent := *first
	resent.Code, resent.Link = "424242", first.Link+"-renewed"
	MustSend(t, q, &resent)
	other := NewLoginMail("other@example.com")
	MustSend(t, q, other)
	if c.Replaced.Load() != 1 {
		t.Fatalf("%d mails replaced, want 1", c.Replaced.Load())
	}
	if st, err := q.Stats(context.Background()); err != nil || st.Queued != 2 {
		t.Fatalf("Stats = %+v, %v; want 2 queued", st, err)
	}
	rig := StartRig(t, s, srv, QuickRetries)
	CheckDelivered(t, srv.WaitMessages(t, 2, Wait), &resent, other)
	Eventually(t, "an empty queue", func() bool { st, _ := rig.Queue.Stats(context.Background()); return st.Queued == 0 })
	time.Sleep(50 * time.Millisecond)
	if n := len(srv.Attempts()); n != 2 {
		t.Fatalf("%d attempts, want 2 (the replaced mail is never sent)", n)
	}
}

// testBurst queues many mails at once from many goroutines and checks
// that each arrives exactly once, and that the worker timed them.
func testBurst(t *testing.T, s mailqueue.Store) {
	srv := smtptest.Start(t, smtptest.Options{})
	rig := StartRig(t, s, srv, QuickRetries)
	const n = 300
	mails := make([]*auth.LoginMail, n)
	var wg sync.WaitGroup
	for i := range mails {
		mails[i] = NewLoginMail(fmt.Sprintf("crowd%d@example.com", i))
		wg.Go(func() { MustSend(t, rig.Queue, mails[i]) })
	}
	wg.Wait()
	// A bound on liveness, not a speed target (benchmarks measure that):
	// under -race beside Chromium and the other suites on two cores, 300
	// deliveries have taken longer than Wait.
	CheckDelivered(t, srv.WaitMessages(t, n, 6*Wait), mails...)
	c := rig.Counters
	Eventually(t, "every mail counted as sent", func() bool { return c.Sent.Load() == n })
	if c.SentAfter.Load() <= 0 {
		t.Fatal("no time to inbox was reported")
	}
	Eventually(t, "an empty queue", func() bool { st, _ := rig.Queue.Stats(context.Background()); return st.Queued == 0 })
}

// Reopen opens the same durable store again, as after a restart, and
// returns it with a function that closes it.
type Reopen func(t *testing.T) (mailqueue.Store, func())

// TestRestart checks that queued mail survives closing and reopening the
// store: mail queued while the SMTP server is down, with the worker
// stopped mid-retry, is delivered by a new worker over the reopened store,
// in the language it was queued in.
func TestRestart(t *testing.T, reopen Reopen) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.Stop()
	s, closeStore := reopen(t)
	rig := StartRig(t, s, srv, QuickRetries)
	a, b := NewLoginMail("before@example.com"), NewLoginMail("restart@example.com")
	b.Locale = "ar"
	MustSend(t, rig.Queue, a)
	MustSend(t, rig.Queue, b)
	Eventually(t, "failed attempts", func() bool { return rig.Counters.Retried.Load() >= 2 })
	rig.Worker.Close()
	closeStore()

	srv.Restart(t)
	s, closeStore = reopen(t)
	defer closeStore()
	rig = StartRig(t, s, srv, QuickRetries)
	got := srv.WaitMessages(t, 2, Wait)
	CheckDelivered(t, got, a, b)
	for _, m := range got {
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		arabic := strings.Contains(m.Parts["text/html"], `<html lang="ar" dir="rtl">`) && err == nil && strings.Contains(subject, "هو رمز تسجيل دخولك")
		if want := m.To[0] == b.To; arabic != want {
			t.Errorf("mail to %s (subject %q): in Arabic %v, want %v", m.To[0], subject, arabic, want)
		}
	}
	Eventually(t, "an empty queue", func() bool { st, _ := rig.Queue.Stats(context.Background()); return st.Queued == 0 })
	rig.Worker.Close()
}
