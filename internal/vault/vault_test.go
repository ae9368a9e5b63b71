package vault_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/vault"
)

type clock struct{}

func (clock) Now() time.Time { return time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC) }

func mustVault(t *testing.T, s *memstore.Store, secret string, previous ...string) *vault.Vault {
	t.Helper()
	v, err := vault.New(s, clock{}, secret, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeyIsSharedAndSurvivesRotation(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	const old, next = "old-secret-0123456789abcdefghijklmnop", "new-secret-zyxwvutsrqponmlkjihgfedcba"
	a, b := mustVault(t, s, old), mustVault(t, s, old)
	var wg sync.WaitGroup
	keys := make([][]byte, 2)
	for i, v := range []*vault.Vault{a, b} {
		wg.Go(func() {
			k, err := v.Key(ctx, "k")
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	if len(keys[0]) != vault.KeySize || !bytes.Equal(keys[0], keys[1]) {
		t.Fatalf("two vaults on one store got different keys: %x, %x", keys[0], keys[1])
	}
	if other, _ := a.Key(ctx, "other"); bytes.Equal(other, keys[0]) {
		t.Fatal("two names share a key")
	}
	rotated := mustVault(t, s, next, old)
	if k, err := rotated.Key(ctx, "k"); err != nil || !bytes.Equal(k, keys[0]) {
		t.Fatalf("after rotation with the previous secret: %x, %v", k, err)
	}
	// Sealed again under the new secret, it opens without the old one.
	if k, err := mustVault(t, s, next).Key(ctx, "k"); err != nil || !bytes.Equal(k, keys[0]) {
		t.Fatalf("after re-sealing: %x, %v", k, err)
	}
	if _, err := mustVault(t, s, "a-third-secret-nobody-had-before-000").Key(ctx, "k"); !errors.Is(err, vault.ErrSealedElsewhere) {
		t.Fatalf("a vault without the secret opened the key: %v", err)
	}
}

func TestSealIsBoundToPurpose(t *testing.T) {
	v := mustVault(t, memstore.New(), "secret-for-sealing-0123456789abcdefgh")
	sealed := v.Seal([]byte("private"), "one")
	if p, current, err := v.Open(sealed, "one"); err != nil || !current || string(p) != "private" {
		t.Fatalf("Open = %q, %v, %v", p, current, err)
	}
	if _, _, err := v.Open(sealed, "two"); err == nil {
		t.Fatal("a sealed value opened under another purpose")
	}
	sealed[len(sealed)-1] ^= 1
	if _, _, err := v.Open(sealed, "one"); err == nil {
		t.Fatal("a tampered value opened")
	}
}
