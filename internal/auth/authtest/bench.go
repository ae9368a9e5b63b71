package authtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// benchParallelism is goroutines per CPU in the parallel benchmarks: many
// requests in flight, as under load, so that stores that group commits
// (bbolt's Batch) or pipeline round trips show it.
const benchParallelism = 16

// BenchmarkStore measures the store operations of a login, each as one
// call with many callers at once: create a challenge, verify a code,
// consume a link, look up a session (the /api/me hot path), and take a
// rate-limit count.
func BenchmarkStore(b *testing.B, open func(b *testing.B) auth.Store) {
	ctx := context.Background()
	b.Run("CreateChallenge", func(b *testing.B) {
		s := open(b)
		now := time.Now()
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.CreateChallenge(ctx, NewChallenge(b, now)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("VerifyCode", func(b *testing.B) {
		benchConsume(b, open(b), func(s auth.Store, c *auth.Challenge, now time.Time) error {
			a, err := s.AttemptCode(ctx, c.ID, [][]byte{c.CodeHash}, 5, now)
			if err == nil && a.Outcome != auth.Accepted {
				err = fmt.Errorf("outcome %v, want Accepted", a.Outcome)
			}
			return err
		})
	})
	b.Run("ConsumeLink", func(b *testing.B) {
		benchConsume(b, open(b), func(s auth.Store, c *auth.Challenge, now time.Time) error {
			_, err := s.ConsumeLink(ctx, c.ID, c.TokenHash, now)
			return err
		})
	})
	b.Run("Session", func(b *testing.B) {
		s := open(b)
		now := time.Now()
		ids := make([]string, 1000)
		for i := range ids {
			sess := NewSession(b, "usr_bench"+strconv.Itoa(i), now)
			if err := s.CreateSession(ctx, sess); err != nil {
				b.Fatal(err)
			}
			ids[i] = sess.ID
		}
		var next atomic.Int64
		b.ResetTimer()
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Session(ctx, ids[next.Add(1)%int64(len(ids))], now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Take", func(b *testing.B) {
		l, ok := open(b).(auth.Limiter)
		if !ok {
			b.Skip("the store is not a Limiter")
		}
		now := time.Now()
		var next atomic.Int64
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				key := "ip:203.0.113." + strconv.Itoa(int(next.Add(1)%200))
				if _, err := l.Take(ctx, key, 1<<30, time.Minute, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchConsume times consume on fresh challenges, one each, many callers at once.
func benchConsume(b *testing.B, s auth.Store, consume func(auth.Store, *auth.Challenge, time.Time) error) {
	now := time.Now()
	cs := mustCreateMany(b, s, b.N, now)
	var next atomic.Int64
	b.ResetTimer()
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := consume(s, cs[next.Add(1)-1], now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func mustCreateMany(b *testing.B, s auth.Store, n int, now time.Time) []*auth.Challenge {
	b.Helper()
	cs := make([]*auth.Challenge, n)
	for i := range cs {
		cs[i] = NewChallenge(b, now)
		rand.Read(cs[i].CodeHash)
	}
	// Create them concurrently: a store that batches commits does so here too.
	errs := make(chan error, 64)
	var next atomic.Int64
	for range 64 {
		go func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					errs <- nil
					return
				}
				if err := s.CreateChallenge(context.Background(), cs[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 64 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	return cs
}
