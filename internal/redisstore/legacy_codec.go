package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// The release before kept one key family per record kind, in compact
// binary records: a version byte, a fixed-width big-endian head that its
// Lua scripts patched, then varints. Times are Unix microseconds. Only the
// decoders remain, for the upgrade (legacy.go).

const recordVersion = 1

var errCorrupt = errors.New("corrupt record")

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n)
}

func decodeLegacyChallenge(id string, rec []byte) (*auth.Challenge, error) {
	r := reader{b: rec}
	r.version()
	c := &auth.Challenge{ID: id}
	c.Attempts = int(r.uint16())
	c.ExpiresAt = fromMicros(r.int64())
	c.SentAt = fromMicros(r.int64())
	c.CodeHash = r.shortBytes()
	c.TokenHash = r.shortBytes()
	c.Email = r.string()
	c.Type = auth.PasswordlessType(r.string())
	c.Template = auth.Template(r.string())
	c.State = r.string()
	c.RedirectTo = r.string()
	c.LinkURL = r.string()
	c.BindingHash = r.bytes()
	c.CreatedAt = fromMicros(r.varint())
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		c.TemplateVariables = make(map[string]string, n)
		for range n {
			k := r.string()
			c.TemplateVariables[k] = r.string()
		}
	} else if n > 0 {
		r.fail()
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	return c, nil
}

func decodeLegacySession(id string, rec []byte) (*auth.Session, error) {
	r := reader{b: rec}
	r.version()
	s := &auth.Session{ID: id}
	s.LastSeenAt = fromMicros(r.int64())
	s.ExpiresAt = fromMicros(r.int64())
	s.IdleTimeout = time.Duration(r.int64()) * time.Microsecond
	s.UserID = r.string()
	s.Email = r.string()
	s.CreatedAt = fromMicros(r.varint())
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

func decodeLegacyUser(rec []byte) (auth.User, error) {
	r := reader{b: rec}
	r.version()
	u := auth.User{ID: r.string(), Email: r.string(), CreatedAt: fromMicros(r.varint())}
	if err := r.done(); err != nil {
		return auth.User{}, fmt.Errorf("user: %w", err)
	}
	return u, nil
}

// reader decodes a record; the first problem sticks and later reads
// return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.b = nil
}

func (r *reader) next(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail()
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) version() {
	if p := r.next(1); p != nil && p[0] != recordVersion {
		r.err = fmt.Errorf("record version %d is unknown", p[0])
		r.b = nil
	}
}

func (r *reader) uint16() uint16 {
	if p := r.next(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) int64() int64 {
	if p := r.next(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

// shortBytes reads a u8 length and that many bytes; nil when empty.
func (r *reader) shortBytes() []byte {
	n := r.next(1)
	if n == nil {
		return nil
	}
	return clone(r.next(int(n[0])))
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a uvarint length and that many bytes; nil when empty.
func (r *reader) bytes() []byte { return clone(r.varBytes()) }

func (r *reader) string() string { return string(r.varBytes()) }

// varBytes reads a uvarint length and that many bytes, aliasing r.b.
func (r *reader) varBytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	return r.next(int(n))
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	return r.err
}

// clone copies p, or returns nil for an empty p, so decoded records never
// alias the reply buffer.
func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
