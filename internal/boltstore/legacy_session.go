package boltstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/latch-auth/latch/internal/auth"
)

// The release before kept sessions in a fixed binary layout:
//
//	created, lastSeen, expires: int64 Unix nanoseconds
//	idle: int64 nanoseconds
//	userID, email: uint16 length + bytes
const sessionFixed = 4 * 8

var errCorruptSession = errors.New("corrupt session record")

func decodeLegacySession(b []byte) (*auth.Session, error) {
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
