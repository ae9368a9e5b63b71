package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/redisstore"
)

// captureMailer keeps the last login mail, for its code.
type captureMailer struct {
	mu   sync.Mutex
	last *auth.LoginMail
}

func (m *captureMailer) SendLogin(_ context.Context, mail *auth.LoginMail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = mail
	return nil
}

// TestMemoryPerRecord measures, with MEMORY USAGE, what one pending login
// and one session cost in Redis when made by the real engine with default
// settings. docs/redis.md quotes its log:
//
//	LATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run TestMemoryPerRecord -v ./internal/redisstore/
func TestMemoryPerRecord(t *testing.T) {
	// A random prefix as long as the default one, so key names weigh
	// what they weigh in production.
	b := make([]byte, 2)
	rand.Read(b)
	s := mustOpenPrefix(t, redisURL(t), "m"+hex.EncodeToString(b)+":")
	if len(s.Prefix()) != len(redisstore.DefaultKeyPrefix) {
		t.Fatalf("prefix %q is not as long as %q", s.Prefix(), redisstore.DefaultKeyPrefix)
	}
	ctx := context.Background()
	keys, err := auth.NewKeys(strings.Repeat("memory-test-secret-", 2))
	if err != nil {
		t.Fatal(err)
	}
	mailer := &captureMailer{}
	svc, err := auth.NewService(auth.Config{Keys: keys, LinkURL: "https://login.example.com/api/auth/passwordless/verify"}, s, s, mailer)
	if err != nil {
		t.Fatal(err)
	}

	sent, err := svc.Send(ctx, auth.SendRequest{Email: "ada.lovelace@example.com"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	pending := measure(t, s)
	challenge := pending["c"] + pending["t"]
	t.Logf("pending login (LINK_OTP, 24-char address, 53-char link URL, no state):")
	t.Logf("  challenge record      %4d bytes", pending["c"])
	t.Logf("  token index           %4d bytes", pending["t"])
	t.Logf("  = per challenge       %4d bytes", challenge)
	t.Logf("  send counter          %4d bytes (per address per window)", pending["r"])

	login, err := svc.VerifyCode(ctx, sent.ChallengeID, mailer.last.Code)
	if err != nil {
		t.Fatalf("VerifyCode: %v", err)
	}
	if _, _, err := svc.StartSession(ctx, login.User); err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	one := measure(t, s)
	if one["c"] != 0 || one["t"] != 0 {
		t.Errorf("the challenge or its token index outlived the login: %v", one)
	}
	if _, _, err := svc.StartSession(ctx, login.User); err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	two := measure(t, s)
	session := two["s"] / 2
	t.Logf("signed in (user id usr_+22 chars, default 4h idle / 7d lifetime):")
	t.Logf("  session record        %4d bytes", session)
	t.Logf("  user's session index  %4d bytes with one session, %d with two", one["u"], two["u"])
	t.Logf("  = first session       %4d bytes", one["s"]+one["u"])
	t.Logf("  = each further one    %4d bytes", session+two["u"]-one["u"])
	t.Logf("  user record           %4d bytes (kept forever, one per address)", one["e"])
	for kind, n := range map[string]int64{"challenge": challenge, "session": session, "user": one["e"]} {
		if n <= 0 || n > 1024 {
			t.Errorf("%s takes %d bytes; want some, and under 1 KiB", kind, n)
		}
	}
}

// measure sums MEMORY USAGE over s's keys by kind: the letter after the
// brace of the hash tag (c, t, s, u, e, r).
func measure(t *testing.T, s *redisstore.Store) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	for _, k := range scanKeys(t, s) {
		n, err := s.Client().MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		out[strings.TrimPrefix(k, s.Prefix())[1:2]] += n
	}
	return out
}
