package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every webhook secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// The bounds of a secret's key, in bytes, as the standard recommends.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

var _ slog.LogValuer = Secret{}

// Secret is the key that signs deliveries: WEBHOOK_SECRET decoded. Its
// zero value signs nothing; ParseSecret makes one.
type Secret struct{ key []byte }

// ParseSecret reads "whsec_" followed by the standard base64 of 24 to 64
// random bytes. Anything else is refused: a secret is never guessed at,
// padded or generated.
func ParseSecret(s string) (Secret, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, errors.New("a webhook secret starts with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return Secret{}, errors.New("a webhook secret is whsec_ followed by standard base64 (A–Z a–z 0–9 + /, = padding)")
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return Secret{}, fmt.Errorf("a webhook secret holds %d to %d bytes; this one holds %d (make one with: echo whsec_$(openssl rand -base64 32))", MinSecretBytes, MaxSecretBytes, len(key))
	}
	return Secret{key: key}, nil
}

// LogValue keeps the key out of logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String keeps the key out of anything printed.
func (s Secret) String() string { return "[redacted]" }

// Sign returns the webhook-signature header of a delivery: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" under the key.
func (s Secret) Sign(id string, at time.Time, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
