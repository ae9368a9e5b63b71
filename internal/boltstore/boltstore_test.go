package boltstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/kv/kvtest"
)

func mustOpen(t testing.TB, dir string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(dir, boltstore.Options{Clock: fixed{kvtest.Epoch}, SweepInterval: time.Hour})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type fixed struct{ t time.Time }

func (f fixed) Now() time.Time { return f.t }

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return mustOpen(t, t.TempDir()) })
	authtest.RunEngine(t, func(t *testing.T) kv.Store { return mustOpen(t, t.TempDir()) })
}

func BenchmarkBoltstore(b *testing.B) {
	authtest.BenchmarkEngine(b, func(b *testing.B) kv.Store { return mustOpen(b, b.TempDir()) })
}

func TestSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := kvtest.Epoch
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "r", []byte("kept"), now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "set", "m", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, "send:x", 2, time.Minute, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir)
	if v, err := s.Get(ctx, "r", now); err != nil || string(v) != "kept" {
		t.Fatalf("record after restart: %q, %v", v, err)
	}
	if m, err := s.Members(ctx, "set", now); err != nil || len(m) != 1 {
		t.Fatalf("set after restart: %v, %v", m, err)
	}
	if n, _ := s.Count(ctx, "send:x", time.Minute, now); n != 1 {
		t.Fatalf("counter after restart holds %d, want 1", n)
	}
}

func TestSweepRemovesOnlyExpired(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	now := kvtest.Epoch
	put := func(k string, exp time.Duration) {
		t.Helper()
		if err := s.Put(ctx, k, []byte("v"), now.Add(exp), now); err != nil {
			t.Fatal(err)
		}
	}
	put("old", time.Minute)
	put("fresh", time.Hour)
	put("moved", time.Minute)
	put("moved", 2*time.Hour) // a rewrite moves its expiry
	if err := s.AddMember(ctx, "set", "a", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "set", "b", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "forever", []byte("v"), time.Time{}, now); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(now.Add(2 * time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2 (the old record and member a)", n, err)
	}
	// Reading at a time before any expiry shows what is still stored.
	if _, err := s.Get(ctx, "old", now); err == nil {
		t.Fatal("an expired record is still stored after the sweep")
	}
	for _, k := range []string{"fresh", "moved", "forever"} {
		if _, err := s.Get(ctx, k, now); err != nil {
			t.Fatalf("%s was swept: %v", k, err)
		}
	}
	if m, _ := s.Members(ctx, "set", now); len(m) != 1 || m[0] != "b" {
		t.Fatalf("members after the sweep: %v", m)
	}
	if n, err := s.Sweep(now.Add(3 * time.Hour)); err != nil || n != 3 {
		t.Fatalf("second Sweep = %d, %v; want 3", n, err)
	}
}

func TestSecondOpenSaysTheFileIsLocked(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir)
	_, err := boltstore.Open(dir, boltstore.Options{})
	if err == nil {
		t.Fatal("a second Open of a locked file succeeded")
	}
	if got := err.Error(); !strings.Contains(got, "locked by another process") {
		t.Fatalf("error %q does not say the file is locked", got)
	}
}
