package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// A panic in one write's function fails that write, on its caller's
// goroutine, and the writes committed beside it and after it go on.
func TestPanicInAWriteStaysWithItsCaller(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, now := context.Background(), time.Now()
	func() {
		defer func() {
			if v := recover(); v != "a bug in a callback" {
				t.Errorf("recovered %v, want the callback's panic", v)
			}
		}()
		s.Update(ctx, "k", now, func([]byte) (kv.Change, error) { panic("a bug in a callback") })
	}()
	if err := s.Put(ctx, "after", []byte("v"), time.Time{}, now); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	if v, err := s.Get(ctx, "after", now); err != nil || string(v) != "v" {
		t.Fatalf("read back %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "k", now); err != kv.ErrNotFound {
		t.Fatalf("the panicking write left a record: %v", err)
	}
}
