package boltstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// Sessions are read on every authenticated request, so they have a small
// fixed binary layout instead of JSON:
//
//	created, lastSeen, expires: int64 Unix nanoseconds
//	idle: int64 nanoseconds
//	userID, email: uint16 length + bytes
const sessionFixed = 4 * 8

func encodeSession(s *auth.Session) []byte {
	b := make([]byte, sessionFixed, sessionFixed+4+len(s.UserID)+len(s.Email))
	binary.BigEndian.PutUint64(b[0:], uint64(s.CreatedAt.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(s.LastSeenAt.UnixNano()))
	binary.BigEndian.PutUint64(b[16:], uint64(s.ExpiresAt.UnixNano()))
	binary.BigEndian.PutUint64(b[24:], uint64(s.IdleTimeout))
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.UserID)))
	b = append(b, s.UserID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Email)))
	return append(b, s.Email...)
}

var errCorruptSession = errors.New("corrupt session record")

func decodeSession(b []byte) (*auth.Session, error) {
	if len(b) < sessionFixed+2 {
		return nil, errCorruptSession
	}
	s := &auth.Session{
		CreatedAt:   time.Unix(0, int64(binary.BigEndian.Uint64(b[0:]))),
		LastSeenAt:  time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))),
		ExpiresAt:   time.Unix(0, int64(binary.BigEndian.Uint64(b[16:]))),
		IdleTimeout: time.Duration(binary.BigEndian.Uint64(b[24:])),
	}
	rest := b[sessionFixed:]
	var ok bool
	if s.UserID, rest, ok = readString(rest); !ok {
		return nil, errCorruptSession
	}
	if s.Email, _, ok = readString(rest); !ok {
		return nil, errCorruptSession
	}
	return s, nil
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}
