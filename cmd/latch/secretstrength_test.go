package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestWeakSecret(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		weak         bool
	}{
		{"repeat", strings.Repeat("a", 40), true},
		{"two characters", strings.Repeat("ab", 20), true},
		{"period of four", strings.Repeat("Xy7!", 10), true},
		{"alphabet", "abcdefghijklmnopqrstuvwxyz012345", true},
		{"digits down", "9876543210zyxwvutsrqponmlkjihgfedcba", true},
		{"keyboard", "qwertyuiopasdfghjklzxcvbnm1234567890", true},
		{"words", "my-super-secret-session-key-2024", true},
		{"changeme", "changeme-changeme-please-change-it", true},
		{"latch example", "ThisIsMyLatchSecretForProduction", true},
		{"digits only", "31415926535897932384626433832795", true},
		{"base64 of 32 random bytes", "q3Z0x1mJr8Jm9wqz0hB2s5u1fGvKc7yD4nL6eT8pR0A=", false},
		{"hex of 16 random bytes", "9f86d081884c7d659a2feaa0c55ad015", false},
		{"uuid pair", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", false},
	} {
		if got := weakSecret(tc.secret) != ""; got != tc.weak {
			t.Errorf("%s: weak = %v (%s), want %v", tc.name, got, weakSecret(tc.secret), tc.weak)
		}
	}
}

// TestRandomSecretsAreStrong makes sure what the advice produces is never
// refused: many random secrets in the formats people generate.
func TestRandomSecretsAreStrong(t *testing.T) {
	for i := range 2000 {
		b := make([]byte, 32)
		rand.Read(b)
		for _, s := range []string{base64.StdEncoding.EncodeToString(b), hex.EncodeToString(b[:16]), base64.RawURLEncoding.EncodeToString(b[:24])} {
			if why := weakSecret(s); why != "" {
				t.Fatalf("random secret %d %q refused: %s", i, s, why)
			}
		}
	}
}
