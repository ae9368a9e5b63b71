package redisstore_test

import (
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
)

// BenchmarkRedis runs the shared store benchmarks, round trips included,
// against LATCH_TEST_REDIS_URL:
//
//	LATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench Redis ./internal/redisstore/
func BenchmarkRedis(b *testing.B) {
	url := redisURL(b)
	authtest.BenchmarkStore(b, func(b *testing.B) auth.Store { return mustOpen(b, url) })
}
