package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// Keys holds the HMAC keys derived from SESSION_SECRET: the current one,
// which hashes everything new, and any previous ones, which still verify
// codes and links issued before a rotation.
type Keys struct {
	challenge [][]byte // current first
}

// MinSecretLength is the shortest secret accepted in production.
const MinSecretLength = 32

// NewKeys derives the engine's keys from the current secret and any
// previous secrets (newest first).
func NewKeys(current string, previous ...string) (*Keys, error) {
	if current == "" {
		return nil, errors.New("auth: empty secret")
	}
	k := &Keys{}
	for _, s := range append([]string{current}, previous...) {
		if s == "" {
			continue
		}
		k.challenge = append(k.challenge, DeriveKey(s, "latch challenge key v1"))
	}
	return k, nil
}

// DeriveKey derives a key for one purpose from a secret (HMAC-SHA256 of
// the purpose under the secret), so that no two uses share a key.
func DeriveKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// MAC is HMAC-SHA256 under key of the parts, each ended by a zero byte
// so that ("ab","c") and ("a","bc") differ.
func MAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// codeHash binds the code to its challenge, so equal codes of different
// challenges have unrelated hashes.
func (k *Keys) codeHash(id, code string) []byte { return MAC(k.challenge[0], "code", id, code) }

func (k *Keys) codeHashes(id, code string) [][]byte {
	out := make([][]byte, len(k.challenge))
	for i, key := range k.challenge {
		out[i] = MAC(key, "code", id, code)
	}
	return out
}

func (k *Keys) tokenHash(token string) []byte { return MAC(k.challenge[0], "link", token) }

func (k *Keys) tokenHashes(token string) [][]byte {
	out := make([][]byte, len(k.challenge))
	for i, key := range k.challenge {
		out[i] = MAC(key, "link", token)
	}
	return out
}

func (k *Keys) bindingHash(binding string) []byte { return MAC(k.challenge[0], "binding", binding) }

func (k *Keys) bindingMatches(stored []byte, binding string) bool {
	if len(stored) == 0 || binding == "" {
		return false
	}
	for _, key := range k.challenge {
		if subtle.ConstantTimeCompare(stored, MAC(key, "binding", binding)) == 1 {
			return true
		}
	}
	return false
}

// SessionID is the store key of a session token: its SHA-256. The token
// carries 256 random bits, so a plain hash is enough to make a stolen
// store useless.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomToken returns n random bytes from r, base64url without padding.
func randomToken(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("auth: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// randomCode returns a uniformly random decimal code of the given length.
func randomCode(r io.Reader, digits int) (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := randInt(r, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", digits, n.Int64()), nil
}

// randInt draws uniformly from [0, max) by rejection sampling, reading from r.
func randInt(r io.Reader, max *big.Int) (*big.Int, error) {
	bits := max.BitLen()
	buf := make([]byte, (bits+7)/8)
	extra := uint(len(buf)*8 - bits)
	n := new(big.Int)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("auth: read random: %w", err)
		}
		buf[0] &= byte(0xff >> extra)
		n.SetBytes(buf)
		if n.Cmp(max) < 0 {
			return n, nil
		}
	}
}

// validToken reports whether s looks like a token of n random bytes, so
// that garbage is refused before it costs a store lookup.
func validToken(s string, n int) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
