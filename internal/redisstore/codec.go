package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// Records are compact binary strings rather than hashes: one Redis string
// costs far less than a hash once any field outgrows the listpack limit
// (64 bytes by default), which a link URL or a state easily does.
//
// A record starts with a version byte and a fixed-width big-endian head
// that the Lua scripts read and patch with struct.unpack and SETRANGE;
// the rest is only ever read by Go and uses varints. Times are Unix
// microseconds, exact in Lua's doubles until the year 2255; the zero time
// is 0.

const recordVersion = 1

// maxAttempts is the largest attempt count the 16-bit head field holds.
const maxAttempts = 1<<16 - 1

var errCorrupt = errors.New("corrupt record")

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n)
}

// challengeHead encodes the mutable part of a challenge record:
//
//	version u8 | attempts u16 | expiresAt i64 | sentAt i64 |
//	len u8, codeHash | len u8, tokenHash
//
// The scripts read it with struct.unpack('>BHi8i8Bc0Bc0', record).
func challengeHead(attempts int, expiresAt, sentAt time.Time, codeHash, tokenHash []byte) ([]byte, error) {
	if len(codeHash) > 255 || len(tokenHash) > 255 {
		return nil, errors.New("hash longer than 255 bytes")
	}
	if attempts < 0 || attempts > maxAttempts {
		return nil, fmt.Errorf("attempts %d out of range", attempts)
	}
	b := make([]byte, 0, 21+len(codeHash)+len(tokenHash))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(attempts))
	b = binary.BigEndian.AppendUint64(b, uint64(micros(expiresAt)))
	b = binary.BigEndian.AppendUint64(b, uint64(micros(sentAt)))
	b = append(b, byte(len(codeHash)))
	b = append(b, codeHash...)
	b = append(b, byte(len(tokenHash)))
	b = append(b, tokenHash...)
	return b, nil
}

// encodeChallenge returns the record of c: its head, then the fields that
// never change. The ID is the key and is not repeated.
func encodeChallenge(c *auth.Challenge) ([]byte, error) {
	b, err := challengeHead(c.Attempts, c.ExpiresAt, c.SentAt, c.CodeHash, c.TokenHash)
	if err != nil {
		return nil, err
	}
	for _, s := range []string{c.Email, string(c.Type), string(c.Template), c.State, c.RedirectTo, c.LinkURL} {
		b = appendString(b, s)
	}
	b = appendString(b, string(c.BindingHash))
	b = binary.AppendVarint(b, micros(c.CreatedAt))
	b = binary.AppendUvarint(b, uint64(len(c.TemplateVariables)))
	for _, k := range slices.Sorted(maps.Keys(c.TemplateVariables)) {
		b = appendString(b, k)
		b = appendString(b, c.TemplateVariables[k])
	}
	return b, nil
}

func decodeChallenge(id string, rec []byte) (*auth.Challenge, error) {
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

// encodeSession returns the record of s:
//
//	version u8 | lastSeenAt i64 | expiresAt i64 | idleTimeout i64 (µs) |
//	userID, email, createdAt (varints)
//
// The scripts read the head with struct.unpack('>Bi8i8i8', record). The
// ID is the key and is not repeated.
func encodeSession(s *auth.Session) []byte {
	b := make([]byte, 0, 25+len(s.UserID)+len(s.Email)+12)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(micros(s.LastSeenAt)))
	b = binary.BigEndian.AppendUint64(b, uint64(micros(s.ExpiresAt)))
	b = binary.BigEndian.AppendUint64(b, uint64(s.IdleTimeout.Microseconds()))
	b = appendString(b, s.UserID)
	b = appendString(b, s.Email)
	b = binary.AppendVarint(b, micros(s.CreatedAt))
	return b
}

func decodeSession(id string, rec []byte) (*auth.Session, error) {
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

// encodeUser returns the record of u: version u8, then id, email and
// createdAt as varints. The key holds only a hash of the email.
func encodeUser(u auth.User) []byte {
	b := make([]byte, 0, 1+len(u.ID)+len(u.Email)+12)
	b = append(b, recordVersion)
	b = appendString(b, u.ID)
	b = appendString(b, u.Email)
	return binary.AppendVarint(b, micros(u.CreatedAt))
}

func decodeUser(rec []byte) (auth.User, error) {
	r := reader{b: rec}
	r.version()
	u := auth.User{ID: r.string(), Email: r.string(), CreatedAt: fromMicros(r.varint())}
	if err := r.done(); err != nil {
		return auth.User{}, fmt.Errorf("user: %w", err)
	}
	return u, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
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
