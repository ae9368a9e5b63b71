package redisstore_test

import (
	"testing"

	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/kv"
)

// BenchmarkRedis runs the engine benchmarks, round trips included,
// against LATCH_TEST_REDIS_URL:
//
//	LATCH_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench Redis ./internal/redisstore/
func BenchmarkRedis(b *testing.B) {
	url := redisURL(b)
	authtest.BenchmarkEngine(b, func(b *testing.B) kv.Store { return mustOpen(b, url) })
}
