package mailqueue

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/latch-auth/latch/internal/auth"
)

// KeySize is the length of a sealing key: AES-256.
const KeySize = 32

// sealVersion is the first byte of every sealed payload.
const sealVersion = 1

// KeyFromSecret derives the queue's sealing key from SESSION_SECRET, under
// its own purpose so that it is unrelated to the engine's keys.
func KeyFromSecret(secret string) []byte {
	return auth.DeriveKey(secret, "latch mail queue key v1")
}

// sealer encrypts payloads at rest with AES-GCM under the current key and
// opens them under any known key, so a key rotation loses no queued mail.
type sealer struct {
	aeads []cipher.AEAD // current first
	mac   []byte        // keys jobs by challenge (challengeKey)
}

func newSealer(key []byte, previous [][]byte) (*sealer, error) {
	s := &sealer{}
	if len(key) == KeySize {
		s.mac = slices.Clone(key)
	}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("mailqueue: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("mailqueue: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("mailqueue: key %d: %w", i, err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// additional binds a sealed payload to its job, so payloads cannot be
// swapped between jobs.
func additional(id string) []byte {
	return append([]byte("latch mail queue v1\x00"), id...)
}

// seal returns version | nonce | ciphertext.
func (s *sealer) seal(id string, plain []byte) []byte {
	aead := s.aeads[0]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], plain, additional(id))
}

// challengeKey is the Job.Key of a challenge's mails: a keyed hash, so
// that the store, which keeps it in the clear, never sees the challenge ID
// (a sign-in's authRequestId).
func (s *sealer) challengeKey(challengeID string) string {
	h := hmac.New(sha256.New, s.mac)
	h.Write([]byte("latch mail queue challenge v1\x00"))
	h.Write([]byte(challengeID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

var errUnsealable = errors.New("mailqueue: payload does not open under any key")

func (s *sealer) open(id string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != sealVersion {
		return nil, errUnsealable
	}
	for _, aead := range s.aeads {
		n := aead.NonceSize()
		if len(sealed) < 1+n {
			return nil, errUnsealable
		}
		if plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], additional(id)); err == nil {
			return plain, nil
		}
	}
	return nil, errUnsealable
}

// Sealer seals the payloads of a queue kept beside the mail queue (the
// webhook events) as the mail queue seals its own: AES-256-GCM under the
// current key, bound to the job's ID, opened under the current or any
// previous key. Give it a key of its own purpose, not the mail queue's.
type Sealer struct{ s *sealer }

// NewSealer returns a Sealer under key (KeySize bytes), still opening
// what previous keys sealed.
func NewSealer(key []byte, previous [][]byte) (*Sealer, error) {
	s, err := newSealer(key, previous)
	if err != nil {
		return nil, err
	}
	return &Sealer{s: s}, nil
}

// Seal encrypts plain for the job id.
func (s *Sealer) Seal(id string, plain []byte) []byte { return s.s.seal(id, plain) }

// Open decrypts what Seal sealed for the job id, or fails when no known
// key opens it or it belongs to another job.
func (s *Sealer) Open(id string, sealed []byte) ([]byte, error) { return s.s.open(id, sealed) }
