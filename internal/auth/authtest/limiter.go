package authtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// OpenLimiter returns a fresh limiter for one test.
type OpenLimiter func(t *testing.T) auth.Limiter

// TestLimiter runs the Limiter conformance suite.
func TestLimiter(t *testing.T, open OpenLimiter) {
	t.Run("CountsAndResets", func(t *testing.T) { testLimiterCounts(t, open(t)) })
	t.Run("PeekRecordsNothing", func(t *testing.T) { testLimiterPeek(t, open(t)) })
	t.Run("KeysAreIndependent", func(t *testing.T) { testLimiterKeys(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testLimiterConcurrent(t, open(t)) })
}

func mustTake(t *testing.T, l auth.Limiter, key string, limit int, window time.Duration, now time.Time) auth.Decision {
	t.Helper()
	d, err := l.Take(context.Background(), key, limit, window, now)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	return d
}

func testLimiterCounts(t *testing.T, l auth.Limiter) {
	window := time.Minute
	start := auth.WindowStart(Epoch, window).Add(10 * time.Second)
	for i := 1; i <= 3; i++ {
		d := mustTake(t, l, "k", 3, window, start)
		if !d.Allowed || d.Remaining != 3-i || d.Limit != 3 {
			t.Fatalf("take %d: %+v; want allowed with %d remaining", i, d, 3-i)
		}
		if d.Reset != 50*time.Second {
			t.Fatalf("take %d: reset %s, want 50s", i, d.Reset)
		}
	}
	if d := mustTake(t, l, "k", 3, window, start.Add(time.Second)); d.Allowed || d.Remaining != 0 {
		t.Fatalf("take 4: %+v; want refused", d)
	}
	if d := mustTake(t, l, "k", 3, window, start.Add(window)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("take in the next window: %+v; want allowed with 2 remaining", d)
	}
}

func testLimiterPeek(t *testing.T, l auth.Limiter) {
	ctx := context.Background()
	for range 5 {
		d, err := l.Peek(ctx, "p", 2, time.Minute, Epoch)
		if err != nil || !d.Allowed || d.Remaining != 2 {
			t.Fatalf("Peek on an empty key = %+v, %v", d, err)
		}
	}
	mustTake(t, l, "p", 2, time.Minute, Epoch)
	mustTake(t, l, "p", 2, time.Minute, Epoch)
	d, err := l.Peek(ctx, "p", 2, time.Minute, Epoch)
	if err != nil || d.Allowed {
		t.Fatalf("Peek after reaching the limit = %+v, %v; want refused (the next Take would be over)", d, err)
	}
}

func testLimiterKeys(t *testing.T, l auth.Limiter) {
	mustTake(t, l, "a", 1, time.Minute, Epoch)
	if d := mustTake(t, l, "b", 1, time.Minute, Epoch); !d.Allowed {
		t.Fatalf("key b was limited by key a")
	}
	if d := mustTake(t, l, "a", 1, time.Minute, Epoch); d.Allowed {
		t.Fatalf("key a allowed twice with limit 1")
	}
}

func testLimiterConcurrent(t *testing.T, l auth.Limiter) {
	var mu sync.Mutex
	allowed := 0
	race(t, racers, func() error {
		d, err := l.Take(context.Background(), "c", 7, time.Minute, Epoch)
		if err != nil {
			return err
		}
		if d.Allowed {
			mu.Lock()
			allowed++
			mu.Unlock()
		}
		return nil
	})
	if allowed != 7 {
		t.Fatalf("%d concurrent takes with limit 7: %d allowed", racers, allowed)
	}
}
