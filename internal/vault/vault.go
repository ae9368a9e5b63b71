// Package vault keeps Latch's own random keys in the store, sealed with
// AES-256-GCM under a key derived from SESSION_SECRET, so that every
// replica uses the same keys, a restart changes nothing, and rotating
// SESSION_SECRET (with SESSION_SECRET_PREVIOUS) keeps them: a key sealed
// under a previous secret is opened and sealed again under the current one.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// KeySize is the size of the keys Key returns.
const KeySize = 32

// ErrSealedElsewhere means a record was sealed under a secret this process
// does not have (SESSION_SECRET changed without SESSION_SECRET_PREVIOUS).
var ErrSealedElsewhere = errors.New("vault: sealed under a secret this process does not have; set SESSION_SECRET_PREVIOUS to the secret used before")

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Vault seals and opens bytes and keeps named keys. Safe for concurrent use.
type Vault struct {
	store kv.Store
	clock Clock
	aeads []cipher.AEAD // current first

	mu   sync.Mutex
	keys map[string][]byte
}

// New returns a vault sealing under secret; previous secrets (newest
// first) still open what they sealed.
func New(store kv.Store, clock Clock, secret string, previous ...string) (*Vault, error) {
	v := &Vault{store: store, clock: clock, keys: map[string][]byte{}}
	for _, s := range append([]string{secret}, previous...) {
		if s == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte("latch vault seal key v1"))
		block, err := aes.NewCipher(m.Sum(nil))
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		v.aeads = append(v.aeads, gcm)
	}
	if len(v.aeads) == 0 {
		return nil, errors.New("vault: a secret is required")
	}
	return v, nil
}

// Seal encrypts plaintext, bound to purpose (a different purpose cannot
// open it): a random nonce, then the ciphertext.
func (v *Vault) Seal(plaintext []byte, purpose string) []byte {
	g := v.aeads[0]
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	rand.Read(nonce)
	return g.Seal(nonce, nonce, plaintext, []byte(purpose))
}

// Open decrypts what Seal sealed under the current or a previous secret;
// current reports whether it was the current one.
func (v *Vault) Open(sealed []byte, purpose string) (plaintext []byte, current bool, err error) {
	for i, g := range v.aeads {
		if len(sealed) < g.NonceSize() {
			break
		}
		p, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(purpose))
		if err == nil {
			return p, i == 0, nil
		}
	}
	return nil, false, ErrSealedElsewhere
}

// Key returns the random key called name, creating it on first use. Every
// replica that shares the store gets the same bytes.
func (v *Vault) Key(ctx context.Context, name string) ([]byte, error) {
	v.mu.Lock()
	k, ok := v.keys[name]
	v.mu.Unlock()
	if ok {
		return k, nil
	}
	purpose := "latch vault key " + name
	var key []byte
	err := v.store.Update(ctx, "vault:"+name, v.clock.Now(), func(cur []byte) (kv.Change, error) {
		key = nil
		if cur != nil {
			p, current, err := v.Open(cur, purpose)
			if err != nil {
				return kv.Change{}, fmt.Errorf("vault: key %s: %w", name, err)
			}
			key = p
			if current {
				return kv.Change{Op: kv.Keep}, nil
			}
			return kv.Change{Op: kv.Write, Value: v.Seal(p, purpose)}, nil
		}
		key = make([]byte, KeySize)
		rand.Read(key)
		return kv.Change{Op: kv.Write, Value: v.Seal(key, purpose)}, nil
	})
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.keys[name] = key
	v.mu.Unlock()
	return key, nil
}
