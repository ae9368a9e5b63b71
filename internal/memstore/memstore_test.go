package memstore_test

import (
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/memstore"
)

func TestConformance(t *testing.T) {
	authtest.TestStore(t, func(*testing.T) auth.Store { return memstore.New() })
	authtest.TestLimiter(t, func(*testing.T) auth.Limiter { return memstore.New() })
}

func BenchmarkMemstore(b *testing.B) {
	authtest.BenchmarkStore(b, func(*testing.B) auth.Store { return memstore.New() })
}
