package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/redisstore"
)

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
	e := authtest.NewEnv(t, s, nil)
	svc, mailer := e.Svc, e.Mail
	caller := authtest.Web("203.0.113.0/24")
	if _, err := svc.Send(ctx, auth.SendRequest{Email: "warm.up@example.com", Caller: caller}); err != nil {
		t.Fatal(err) // creates the vault's key, which is not per login
	}
	base := measure(t, s)
	sent, err := svc.Send(ctx, auth.SendRequest{Email: "ada.lovelace@example.com", Caller: caller})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	pending := measure(t, s)
	challenge := pending["chal"] - base["chal"] + pending["link"] - base["link"]
	t.Logf("pending login (LINK_OTP, 24-char address, 53-char link URL, no state):")
	t.Logf("  challenge record      %4d bytes", pending["chal"]-base["chal"])
	t.Logf("  link index            %4d bytes", pending["link"]-base["link"])
	t.Logf("  = per challenge       %4d bytes", challenge)
	t.Logf("  send counters         %4d bytes (per address, and per address and requester)", pending["lim"]-base["lim"])

	login, err := svc.VerifyCode(ctx, sent.ChallengeID, mailer.Last(t, "").Code, caller)
	if err != nil {
		t.Fatalf("VerifyCode: %v", err)
	}
	if _, _, err := svc.StartSession(ctx, login.User); err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	one := measure(t, s)
	if _, _, err := svc.StartSession(ctx, login.User); err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	two := measure(t, s)
	session := two["sess"] / 2
	user := one["user"] + one["email"]
	t.Logf("signed in (user id usr_+22 chars, default 4h idle / 7d lifetime):")
	t.Logf("  session record        %4d bytes", session)
	t.Logf("  user's session index  %4d bytes with one session, %d with two", one["usess"], two["usess"])
	t.Logf("  = first session       %4d bytes", one["sess"]+one["usess"])
	t.Logf("  = each further one    %4d bytes", session+two["usess"]-one["usess"])
	t.Logf("  user record + index   %4d bytes (kept forever, one per address)", user)
	t.Logf("  used challenge        %4d bytes until it expires (for the asking tab)", one["chal"]-base["chal"])
	for kind, n := range map[string]int64{"challenge": challenge, "session": session, "user": user} {
		if n <= 0 || n > 1024 {
			t.Errorf("%s takes %d bytes; want some, and under 1 KiB", kind, n)
		}
	}
}

// measure sums MEMORY USAGE over s's keys by kind: the record kind after
// the brace (chal, link, sess, usess, user, email, lim, vault).
func measure(t *testing.T, s *redisstore.Store) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	for _, k := range scanKeys(t, s) {
		n, err := s.Client().MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", k, err)
		}
		kind, _, _ := strings.Cut(strings.TrimPrefix(k, s.Prefix()+"{"), ":")
		out[kind] += n
	}
	return out
}
