package mailqueue

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	for _, c := range []struct {
		name        string
		start, max  int
		steps       int
		latency     func(i, limit int) time.Duration
		inFlight    func(limit int) int
		failed      bool
		wantAtLeast int
		wantAtMost  int
	}{
		{
			// A relay that takes 100 ms whatever the load: grow to the bound.
			name: "flat latency grows to the bound", start: 4, max: 64, steps: 200,
			latency:     func(int, int) time.Duration { return 100 * time.Millisecond },
			inFlight:    func(limit int) int { return limit },
			wantAtLeast: 64, wantAtMost: 64,
		},
		{
			// A relay whose latency grows with the load past 8 in flight
			// (it serves 8 at a time): settle near where latency starts to rise.
			name: "latency that rises with load holds the limit down", start: 4, max: 256, steps: 5000,
			latency: func(_, limit int) time.Duration {
				return time.Duration(max(1, limit/8)) * 10 * time.Millisecond
			},
			inFlight:    func(limit int) int { return limit },
			wantAtLeast: 8, wantAtMost: 32,
		},
		{
			name: "an idle limit learns nothing", start: 4, max: 64, steps: 500,
			latency:     func(int, int) time.Duration { return 100 * time.Millisecond },
			inFlight:    func(int) int { return 1 },
			wantAtLeast: 4, wantAtMost: 4,
		},
		{
			name: "failures fall back to the start", start: 4, max: 64, steps: 100,
			latency:     func(int, int) time.Duration { return time.Millisecond },
			inFlight:    func(limit int) int { return limit },
			failed:      true,
			wantAtLeast: 4, wantAtMost: 4,
		},
		{
			name: "a fixed number stays fixed", start: 8, max: 8, steps: 200,
			latency:     func(int, int) time.Duration { return 100 * time.Millisecond },
			inFlight:    func(limit int) int { return limit },
			wantAtLeast: 8, wantAtMost: 8,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var told []int
			l := newLimiter(c.start, c.max, func(n int) { told = append(told, n) })
			for i := range c.steps {
				n := l.current()
				l.observe(c.latency(i, n), c.inFlight(n), c.failed)
			}
			got := l.current()
			if got < c.wantAtLeast || got > c.wantAtMost {
				t.Fatalf("limit %d after %d deliveries, want %d to %d", got, c.steps, c.wantAtLeast, c.wantAtMost)
			}
			if len(told) > 0 && told[len(told)-1] != got {
				t.Fatalf("last change told %d, limit is %d", told[len(told)-1], got)
			}
		})
	}
}

// After growing, a limit shrinks when deliveries start failing for now.
func TestLimiterBacksOffOnFailures(t *testing.T) {
	l := newLimiter(4, 64, nil)
	for range 300 {
		l.observe(100*time.Millisecond, l.current(), false)
	}
	if l.current() != 64 {
		t.Fatalf("limit %d, want 64 before the failures", l.current())
	}
	for range 5 {
		l.observe(100*time.Millisecond, l.current(), true)
	}
	if got := l.current(); got >= 64*9/10 || got < 4 {
		t.Fatalf("limit %d after 5 failures, want well below 64", got)
	}
}
