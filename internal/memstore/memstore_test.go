package memstore_test

import (
	"testing"

	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/kv/kvtest"
	"github.com/latch-auth/latch/internal/memstore"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(*testing.T) kv.Store { return memstore.New() })
	authtest.RunEngine(t, func(*testing.T) kv.Store { return memstore.New() })
}

func BenchmarkMemstore(b *testing.B) {
	authtest.BenchmarkEngine(b, func(*testing.B) kv.Store { return memstore.New() })
}
