package events_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/events"
	"github.com/latch-auth/latch/internal/mail/mailqueue"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func mustSecret(t *testing.T) events.Secret {
	t.Helper()
	s, err := events.ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The example of the Standard Webhooks specification and its reference
// libraries: this id, timestamp and body under this secret sign so.
func TestSignMatchesTheStandardsExample(t *testing.T) {
	got := mustSecret(t).Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	long := base64.StdEncoding.EncodeToString(make([]byte, 65))
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"the standard's form", testSecret, true},
		{"32 bytes", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)), true},
		{"no prefix", strings.TrimPrefix(testSecret, "whsec_"), false},
		{"empty", "", false},
		{"prefix only", "whsec_", false},
		{"not base64", "whsec_not*base64*at*all*not*base64*at*all", false},
		{"url-safe base64", "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16))), false},
		{"too short", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), false},
		{"too long", "whsec_" + long, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := events.ParseSecret(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseSecret(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(tc.in, "whsec_")) && len(tc.in) > 6 {
				t.Errorf("the error quotes the secret: %v", err)
			}
			if tc.ok && (s.String() != "[redacted]" || strings.Contains(s.LogValue().String(), tc.in[6:])) {
				t.Errorf("a secret prints itself: %s", s.LogValue())
			}
		})
	}
}

func TestFromAudit(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		e    auth.Event
		want string // the body, or "" for no webhook event
	}{
		{auth.Event{Kind: auth.EventUserCreated, UserID: "u1", Email: "ada@example.com"},
			`{"type":"user.created","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","email":"ada@example.com"}}`},
		{auth.Event{Kind: auth.EventUserUpdated, UserID: "u1", Email: "ada@example.com", Changed: "disabled"},
			`{"type":"user.updated","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","email":"ada@example.com","changed":"disabled"}}`},
		{auth.Event{Kind: auth.EventUserDeleted, UserID: "u1", Email: "ada@example.com"},
			`{"type":"user.deleted","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","email":"ada@example.com"}}`},
		{auth.Event{Kind: auth.EventSessionCreated, UserID: "u1", Email: "ada@example.com", SessionID: "s1", Method: "code", ChallengeID: "ch"},
			`{"type":"session.created","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","email":"ada@example.com","sessionId":"s1","method":"code"}}`},
		{auth.Event{Kind: auth.EventSessionRevoked, UserID: "u1", SessionID: "s1"},
			`{"type":"session.revoked","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","sessionId":"s1"}}`},
		{auth.Event{Kind: auth.EventPasskeyAdded, UserID: "u1", Email: "ada@example.com", Passkey: "pk1"},
			`{"type":"passkey.added","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","email":"ada@example.com","passkeyId":"pk1"}}`},
		{auth.Event{Kind: "passkey_removed", UserID: "u1", Email: "ada@example.com"},
			`{"type":"passkey.removed","timestamp":"2026-05-06T07:08:09Z","data":{"userId":"u1","email":"ada@example.com"}}`},
		{auth.Event{Kind: auth.EventLoginFailed, Method: "code", Reason: auth.CodeInvalidCode, ChallengeID: "ch"},
			`{"type":"login.failed","timestamp":"2026-05-06T07:08:09Z","data":{"method":"code","reason":"invalid_code"}}`},
		{auth.Event{Kind: auth.EventCodeSent, Email: "ada@example.com", ChallengeID: "ch"}, ""},
		{auth.Event{Kind: auth.EventLoginSucceeded, Email: "ada@example.com"}, ""},
		{auth.Event{Kind: auth.EventRateLimited, Email: "ada@example.com"}, ""},
	} {
		b, ok := events.FromAudit(tc.e, at)
		if !ok {
			if tc.want != "" {
				t.Errorf("%s: no webhook event, want %s", tc.e.Kind, tc.want)
			}
			continue
		}
		got, _ := json.Marshal(b)
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.e.Kind, got, tc.want)
		}
	}
}

// delivery is one POST as the receiver saw it.
type delivery struct {
	id, ts, sig string
	body        []byte
	at          time.Time
}

// receiver is a real HTTP server that records every delivery and
// answers with what answer says for the n-th POST (from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	answer func(n int, w http.ResponseWriter)
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	r := &receiver{answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"), sig: req.Header.Get("webhook-signature"), body: body, at: time.Now()})
		n := len(r.got)
		r.mu.Unlock()
		r.answer(n, w)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// verify checks a delivery as a receiver should, independently of Sign:
// HMAC-SHA256 of id.timestamp.body under the decoded secret, and a
// timestamp within five minutes.
func verify(t *testing.T, d delivery) {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(d.id + "." + d.ts + "." + string(d.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(d.sig), []byte(want)) {
		t.Fatalf("delivery %s: signature %q, want %q", d.id, d.sig, want)
	}
	ts, err := strconv.ParseInt(d.ts, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		t.Fatalf("delivery %s: webhook-timestamp %q is not the time of sending", d.id, d.ts)
	}
	var b map[string]any
	if err := json.Unmarshal(d.body, &b); err != nil || b["type"] == nil || b["timestamp"] == nil || b["data"] == nil {
		t.Fatalf("delivery %s: body %s is not {type, timestamp, data}", d.id, d.body)
	}
}

type counters struct{ queued, sent, retried, dead, replayed, attempted atomic.Int64 }

func (c *counters) observer() events.Observer {
	return events.Observer{
		Queued: func() { c.queued.Add(1) }, Sent: func() { c.sent.Add(1) }, Retried: func() { c.retried.Add(1) },
		DeadLettered: func() { c.dead.Add(1) }, Replayed: func() { c.replayed.Add(1) },
		Attempted: func(time.Duration) { c.attempted.Add(1) },
	}
}

type rig struct {
	queue  *events.Queue
	worker *events.Worker
	store  mailqueue.Store
	count  *counters
}

func quick(url string, t *testing.T) events.WorkerOptions {
	return events.WorkerOptions{URL: url, Secret: mustSecret(t), BaseDelay: 10 * time.Millisecond, MaxDelay: 40 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, Timeout: 2 * time.Second, MaxAttempts: 4}
}

func startRig(t *testing.T, store mailqueue.Store, opts events.WorkerOptions) *rig {
	t.Helper()
	c := &counters{}
	q, err := events.New(store, events.Options{Key: events.KeyFromSecret(strings.Repeat("s", 32)), Observer: c.observer()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := events.NewWorker(q, opts)
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	t.Cleanup(func() { w.Close() })
	return &rig{queue: q, worker: w, store: store, count: c}
}

func created(email string) auth.Event {
	return auth.Event{Kind: auth.EventUserCreated, UserID: "u-" + email, Email: email}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverySignedAndAcknowledged(t *testing.T) {
	r := newReceiver(t, func(int, http.ResponseWriter) {})
	g := startRig(t, mailqueue.NewMemoryStore(), quick(r.srv.URL, t))
	g.queue.Audit(context.Background(), created("ada@example.com"))
	g.queue.Audit(context.Background(), auth.Event{Kind: auth.EventCodeSent, Email: "ada@example.com"}) // not a webhook event
	eventually(t, "a delivery recorded", func() bool { return g.count.sent.Load() == 1 })
	got := r.deliveries()
	if len(got) != 1 || !strings.HasPrefix(got[0].id, "msg_") {
		t.Fatalf("deliveries: %+v, want one with a msg_ id", got)
	}
	verify(t, got[0])
	if !strings.Contains(string(got[0].body), `"type":"user.created"`) || !strings.Contains(string(got[0].body), `"email":"ada@example.com"`) {
		t.Fatalf("body %s", got[0].body)
	}
	eventually(t, "an empty queue", func() bool { st, _ := g.queue.Stats(context.Background()); return st == mailqueue.Stats{} })
}

// A receiver that fails twice gets the event a third time with the same
// webhook-id and body, each attempt signed with its own timestamp.
func TestRetriesKeepTheWebhookID(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	opts := quick(r.srv.URL, t)
	opts.BaseDelay, opts.MaxDelay = 1100*time.Millisecond, 1100*time.Millisecond // timestamps a second apart
	g := startRig(t, mailqueue.NewMemoryStore(), opts)
	g.queue.Audit(context.Background(), created("ada@example.com"))
	eventually(t, "the third attempt", func() bool { return g.count.sent.Load() == 1 })
	got := r.deliveries()
	if len(got) != 3 || g.count.retried.Load() != 2 {
		t.Fatalf("%d deliveries, %d retries; want 3 and 2", len(got), g.count.retried.Load())
	}
	for _, d := range got {
		verify(t, d)
		if d.id != got[0].id || string(d.body) != string(got[0].body) {
			t.Fatalf("a retry changed the event: %s %s, first %s %s", d.id, d.body, got[0].id, got[0].body)
		}
	}
	if got[0].ts == got[2].ts {
		t.Errorf("every attempt has the timestamp %s; each is signed when it is sent", got[0].ts)
	}
}

func TestStatusesThatRetryAndThatDoNot(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{
		{400, false}, {401, false}, {404, false}, {410, false}, {302, false},
		{408, true}, {409, true}, {429, true}, {500, true}, {502, true}, {503, true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			r := newReceiver(t, func(n int, w http.ResponseWriter) {
				if n == 1 {
					if tc.status == 302 {
						w.Header().Set("Location", "/elsewhere")
					}
					w.WriteHeader(tc.status)
					io.WriteString(w, "no thanks")
				}
			})
			g := startRig(t, mailqueue.NewMemoryStore(), quick(r.srv.URL, t))
			g.queue.Audit(context.Background(), created("ada@example.com"))
			eventually(t, "an outcome", func() bool { return g.count.sent.Load()+g.count.dead.Load() == 1 })
			if tc.retry {
				if g.count.sent.Load() != 1 || len(r.deliveries()) != 2 {
					t.Fatalf("%d: sent %d after %d posts; want a retry that succeeds", tc.status, g.count.sent.Load(), len(r.deliveries()))
				}
				return
			}
			if g.count.dead.Load() != 1 || len(r.deliveries()) != 1 {
				t.Fatalf("%d: dead %d after %d posts; want dead-lettered at once", tc.status, g.count.dead.Load(), len(r.deliveries()))
			}
			failed, err := g.queue.Failed(context.Background(), 10)
			if err != nil || len(failed) != 1 || failed[0].Type != events.UserCreated || !failed[0].Replayable || !strings.Contains(failed[0].LastError, strconv.Itoa(tc.status)) {
				t.Fatalf("Failed = %+v, %v", failed, err)
			}
		})
	}
}

// An event that fails every attempt is dead-lettered after the last one,
// listed, and delivered by a replay with its webhook-id.
func TestLastAttemptDeadLettersAndReplayDelivers(t *testing.T) {
	var up atomic.Bool
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if !up.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	g := startRig(t, mailqueue.NewMemoryStore(), quick(r.srv.URL, t))
	g.queue.Audit(context.Background(), created("ada@example.com"))
	eventually(t, "a dead letter", func() bool { return g.count.dead.Load() == 1 })
	if n := len(r.deliveries()); n != 4 {
		t.Fatalf("%d posts before the dead letter, want MaxAttempts (4)", n)
	}
	failed, err := g.queue.Failed(context.Background(), 10)
	if err != nil || len(failed) != 1 || failed[0].Attempts != 4 || failed[0].ID != r.deliveries()[0].id {
		t.Fatalf("Failed = %+v, %v", failed, err)
	}
	if err := g.queue.Replay(context.Background(), "msg_nosuch"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Replay of an unknown id = %v, want ErrNotFound", err)
	}
	up.Store(true)
	if err := g.queue.Replay(context.Background(), failed[0].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replay delivered", func() bool { return g.count.sent.Load() == 1 })
	last := r.deliveries()[4]
	verify(t, last)
	if last.id != failed[0].ID {
		t.Fatalf("the replay came as %s, want %s", last.id, failed[0].ID)
	}
	if failed, _ := g.queue.Failed(context.Background(), 10); len(failed) != 0 {
		t.Fatalf("the replayed event is still listed as failed: %+v", failed)
	}
	if err := g.queue.Replay(context.Background(), last.id); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("a second replay = %v, want ErrNotFound", err)
	}
}

// A receiver that does not answer in time, or is not there, is retried.
func TestTimeoutsAndConnectionErrorsRetry(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		r := newReceiver(t, func(n int, w http.ResponseWriter) {
			if n == 1 {
				time.Sleep(300 * time.Millisecond)
			}
		})
		opts := quick(r.srv.URL, t)
		opts.Timeout = 100 * time.Millisecond
		g := startRig(t, mailqueue.NewMemoryStore(), opts)
		g.queue.Audit(context.Background(), created("ada@example.com"))
		eventually(t, "delivered after a timeout", func() bool { return g.count.sent.Load() == 1 })
		if g.count.retried.Load() != 1 {
			t.Fatalf("retried %d, want 1", g.count.retried.Load())
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		g := startRig(t, mailqueue.NewMemoryStore(), quick("http://"+addr+"/hook", t))
		g.queue.Audit(context.Background(), created("ada@example.com"))
		eventually(t, "a dead letter", func() bool { return g.count.dead.Load() == 1 })
		if g.count.retried.Load() != 3 {
			t.Fatalf("retried %d, want 3 before the last attempt", g.count.retried.Load())
		}
		failed, _ := g.queue.Failed(context.Background(), 1)
		if len(failed) != 1 || !strings.Contains(failed[0].LastError, "refused") {
			t.Fatalf("Failed = %+v, want the connection error", failed)
		}
	})
}

// flakyStore refuses writes while down, as a store in an outage does.
type flakyStore struct {
	mailqueue.Store
	down atomic.Bool
}

func (s *flakyStore) Enqueue(ctx context.Context, j *mailqueue.Job) (bool, error) {
	if s.down.Load() {
		return false, errors.New("store down")
	}
	return s.Store.Enqueue(ctx, j)
}

// An event the store refused is held and stored once the store is back.
func TestEventsHeldWhileTheStoreIsDown(t *testing.T) {
	r := newReceiver(t, func(int, http.ResponseWriter) {})
	s := &flakyStore{Store: mailqueue.NewMemoryStore()}
	s.down.Store(true)
	g := startRig(t, s, quick(r.srv.URL, t))
	g.queue.Audit(context.Background(), created("ada@example.com"))
	if g.queue.Held() != 1 {
		t.Fatalf("held %d, want the refused event", g.queue.Held())
	}
	s.down.Store(false)
	eventually(t, "the held event delivered", func() bool { return g.count.sent.Load() == 1 })
	if g.queue.Held() != 0 {
		t.Fatalf("still held: %d", g.queue.Held())
	}
}

func TestWorkerOptionsValidate(t *testing.T) {
	if err := (events.WorkerOptions{}).Validate(); err == nil || !strings.Contains(err.Error(), "no URL") || !strings.Contains(err.Error(), "no secret") {
		t.Fatalf("Validate of nothing = %v", err)
	}
	o := quick("http://x", t)
	o.BaseDelay, o.MaxDelay = time.Minute, time.Second
	if err := o.Validate(); err == nil {
		t.Fatal("a base delay above the max delay was accepted")
	}
}
