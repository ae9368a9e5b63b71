package boltstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/boltstore"
)

func mustOpen(t *testing.T, dir string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	authtest.TestStore(t, func(t *testing.T) auth.Store { return mustOpen(t, t.TempDir()) })
	authtest.TestLimiter(t, func(t *testing.T) auth.Limiter { return mustOpen(t, t.TempDir()) })
}

func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := authtest.NewChallenge(t, authtest.Epoch)
	sess := authtest.NewSession(t, "usr_restart", authtest.Epoch)
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, "send:x", 2, time.Minute, authtest.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir)
	if got, err := s.Challenge(ctx, c.ID, authtest.Epoch); err != nil || got.Email != c.Email {
		t.Fatalf("challenge after restart: %v, %v", got, err)
	}
	if got, err := s.Session(ctx, sess.ID, authtest.Epoch); err != nil || got.UserID != sess.UserID {
		t.Fatalf("session after restart: %v, %v", got, err)
	}
	if d, _ := s.Peek(ctx, "send:x", 2, time.Minute, authtest.Epoch); d.Remaining != 1 {
		t.Fatalf("rate-limit count after restart: %+v, want 1 remaining", d)
	}
}

func TestSweepRemovesOnlyExpired(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	now := authtest.Epoch
	old := authtest.NewChallenge(t, now)
	fresh := authtest.NewChallenge(t, now.Add(10*time.Minute))
	sess := authtest.NewSession(t, "usr_sweep", now) // idle deadline now+1h
	for _, c := range []*auth.Challenge{old, fresh} {
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	// Use at +50m moves the idle deadline to +1h50m.
	if err := s.TouchSession(ctx, sess.ID, now.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(now.Add(12 * time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 (the old challenge)", n, err)
	}
	// Sweeping ignores now: look far back to see what is still stored.
	past := now.Add(-time.Hour)
	if _, err := s.Challenge(ctx, old.ID, past); err == nil {
		t.Fatal("expired challenge still stored after sweep")
	}
	if _, err := s.ChallengeByToken(ctx, old.TokenHash, past); err == nil {
		t.Fatal("expired challenge's token index still stored after sweep")
	}
	if _, err := s.Challenge(ctx, fresh.ID, now.Add(10*time.Minute)); err != nil {
		t.Fatalf("live challenge swept: %v", err)
	}
	if _, err := s.Session(ctx, sess.ID, now.Add(100*time.Minute)); err != nil {
		t.Fatalf("touched session swept: %v", err)
	}
	if n, err := s.Sweep(now.Add(3 * time.Hour)); err != nil || n != 2 {
		t.Fatalf("second Sweep = %d, %v; want 2", n, err)
	}
}

func BenchmarkBoltstore(b *testing.B) {
	authtest.BenchmarkStore(b, func(b *testing.B) auth.Store {
		s, err := boltstore.Open(b.TempDir(), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

func TestImportSessions(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	var batch []*auth.Session
	for i := range 2500 {
		batch = append(batch, authtest.NewSession(t, "usr_import"+string(rune('a'+i%26)), authtest.Epoch))
	}
	if err := s.ImportSessions(batch); err != nil {
		t.Fatal(err)
	}
	for _, sess := range []*auth.Session{batch[0], batch[1234], batch[2499]} {
		if got, err := s.Session(context.Background(), sess.ID, authtest.Epoch); err != nil || got.UserID != sess.UserID {
			t.Fatalf("imported session: %v, %v", got, err)
		}
	}
	if n, err := s.DeleteUserSessions(context.Background(), "usr_importa"); err != nil || n == 0 {
		t.Fatalf("imported sessions are not in the user index: %d, %v", n, err)
	}
}

func TestSweepKeepsTheCurrentWindowsCount(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	w := time.Minute
	first := auth.WindowStart(authtest.Epoch, w).Add(10 * time.Second)
	second := first.Add(w)
	if _, err := s.Take(ctx, "send:k", 2, w, first); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Take(ctx, "send:k", 2, w, second); err != nil {
			t.Fatal(err)
		}
	}
	// The first window's entry is due; its key now counts the second window.
	if _, err := s.Sweep(second); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Peek(ctx, "send:k", 2, w, second); d.Allowed || d.Remaining != 0 {
		t.Fatalf("after the sweep the current window counts %+v; the sweep reset it", d)
	}
	if _, err := s.Sweep(second.Add(w)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Peek(ctx, "send:k", 2, w, second.Add(w)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("a later window: %+v", d)
	}
}
