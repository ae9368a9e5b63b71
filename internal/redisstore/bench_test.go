package redisstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/redisstore"
)

// The benchmarks measure one call each, round trips included, against
// LATCH_TEST_REDIS_URL:
//
//	LATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench Redis ./internal/redisstore/

func BenchmarkRedisCreateChallenge(b *testing.B) {
	s := mustOpen(b, redisURL(b))
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		if err := s.CreateChallenge(ctx, authtest.NewChallenge(b, now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisAttemptCode judges wrong codes: the common, one-script path.
func BenchmarkRedisAttemptCode(b *testing.B) {
	s := mustOpen(b, redisURL(b))
	ctx := context.Background()
	now := time.Now()
	challenges := mustCreateChallenges(b, s, 100, now)
	wrong := [][]byte{make([]byte, 32)}
	rand.Read(wrong[0])
	i := 0
	for b.Loop() {
		c := challenges[i%len(challenges)]
		i++
		if _, err := s.AttemptCode(ctx, c.ID, wrong, 1<<16-1, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisConsumeLink consumes fresh challenges, each with its
// best-effort index cleanup.
func BenchmarkRedisConsumeLink(b *testing.B) {
	s := mustOpen(b, redisURL(b))
	ctx := context.Background()
	now := time.Now()
	challenges := mustCreateChallenges(b, s, b.N, now)
	b.ResetTimer()
	for i := range b.N {
		c := challenges[i]
		if _, err := s.ConsumeLink(ctx, c.ID, c.TokenHash, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisSession reads one session: the /api/me hot path.
func BenchmarkRedisSession(b *testing.B) {
	s := mustOpen(b, redisURL(b))
	ctx := context.Background()
	now := time.Now()
	sess := authtest.NewSession(b, "usr_bench", now)
	if err := s.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Session(ctx, sess.ID, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisTake(b *testing.B) {
	s := mustOpen(b, redisURL(b))
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		if _, err := s.Take(ctx, "bench", 1<<30, time.Minute, now); err != nil {
			b.Fatal(err)
		}
	}
}

func mustCreateChallenges(b *testing.B, s *redisstore.Store, n int, now time.Time) []*auth.Challenge {
	b.Helper()
	out := make([]*auth.Challenge, n)
	for i := range out {
		out[i] = authtest.NewChallenge(b, now)
		if err := s.CreateChallenge(context.Background(), out[i]); err != nil {
			b.Fatal(err)
		}
	}
	return out
}
