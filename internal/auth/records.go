package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/latch-auth/latch/internal/kv"
)

// The engine's record kinds and where they live in the kv.Store:
//
//	chal:<challengeID>   a pending (or just used) login       challengeCodec, until ExpiresAt
//	link:<tokenHash>     link token → challenge ID           plain ID, until the challenge expires
//	sess:<sessionID>     a signed-in browser                  sessionCodec, until Deadline()
//	usess:<userID>       the user's session IDs               set, each until its session's deadline
//	user:<userID>        a person                             userCodec, forever
//	email:<identity>     address → user ID                    plain ID, forever
//	lim:<name>:<…>       counters of the limits (limits.go)
//
// tokenHash is the link token's keyed hash and identity the SHA-256 of the
// lower-cased address, both base64url, so no secret and no address is in
// a key. Records have private, versioned encodings: a renamed Go field
// never changes what is on disk, and testdata/records/*.golden holds the
// bytes of each version so that a later release proves it still reads them.

func challengeKey(id string) string { return "chal:" + id }
func linkKey(tokenHash []byte) string {
	return "link:" + base64.RawURLEncoding.EncodeToString(tokenHash)
}
func sessionKey(id string) string { return "sess:" + id }
func userSessionsKey(uid string) string {
	return "usess:" + uid
}
func userKey(uid string) string { return "user:" + uid }

// identity is what makes two spellings of an address one account: the
// whole address, lower-cased. Mail still goes to what was typed.
func identity(email string) string { return strings.ToLower(email) }

func emailKey(email string) string {
	sum := sha256.Sum256([]byte(identity(email)))
	return "email:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

const challengeV1 = 1

func encodeChallenge(c *Challenge) []byte {
	w := kv.NewWriter(challengeV1).
		String(c.Email).String(string(c.Type)).String(string(c.Template)).
		String(c.State).String(c.RedirectTo).String(c.LinkURL).
		Blob(c.CodeHash).Blob(c.TokenHash).Blob(c.BindingHash).
		Int(int64(c.Attempts)).
		Time(c.CreatedAt).Time(c.SentAt).Time(c.ExpiresAt).Time(c.UsedAt).
		String(c.ClientID).String(c.Requester).Time(c.ReservedAt).
		String(c.Locale)
	keys := slices.Sorted(maps.Keys(c.TemplateVariables))
	w.Int(int64(len(keys)))
	for _, k := range keys {
		w.String(k).String(c.TemplateVariables[k])
	}
	return w.Bytes()
}

func decodeChallenge(id string, rec []byte) (*Challenge, error) {
	r, v := kv.NewReader(rec)
	if v != challengeV1 {
		return nil, unknownVersion("challenge", v)
	}
	c := &Challenge{ID: id}
	c.Email = r.String()
	c.Type = PasswordlessType(r.String())
	c.Template = Template(r.String())
	c.State, c.RedirectTo, c.LinkURL = r.String(), r.String(), r.String()
	c.CodeHash, c.TokenHash, c.BindingHash = r.Blob(), r.Blob(), r.Blob()
	c.Attempts = int(r.Int())
	c.CreatedAt, c.SentAt, c.ExpiresAt, c.UsedAt = r.Time(), r.Time(), r.Time(), r.Time()
	c.ClientID, c.Requester = r.String(), r.String()
	c.ReservedAt = r.Time()
	c.Locale = r.String()
	if n := r.Int(); n > 0 && n <= 64 {
		c.TemplateVariables = make(map[string]string, n)
		for range n {
			k := r.String()
			c.TemplateVariables[k] = r.String()
		}
	}
	if err := r.Err("challenge"); err != nil {
		return nil, err
	}
	return c, nil
}

const sessionV1 = 1

func encodeSession(s *Session) []byte {
	return kv.NewWriter(sessionV1).
		String(s.UserID).String(s.Email).
		Time(s.CreatedAt).Time(s.LastSeenAt).Time(s.ExpiresAt).Int(int64(s.IdleTimeout / time.Microsecond)).
		String(s.Method).String(s.Device).String(s.Network).
		Bytes()
}

func decodeSession(id string, rec []byte) (*Session, error) {
	r, v := kv.NewReader(rec)
	if v != sessionV1 {
		return nil, unknownVersion("session", v)
	}
	s := &Session{ID: id}
	s.UserID, s.Email = r.String(), r.String()
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = r.Time(), r.Time(), r.Time()
	s.IdleTimeout = time.Duration(r.Int()) * time.Microsecond
	s.Method, s.Device, s.Network = r.String(), r.String(), r.String()
	if err := r.Err("session"); err != nil {
		return nil, err
	}
	return s, nil
}

const userV1 = 1

func encodeUser(u *User) []byte {
	return kv.NewWriter(userV1).
		String(u.ID).String(u.Email).
		Time(u.CreatedAt).Time(u.LastSignInAt).
		Bool(u.Disabled).Strings(u.Groups).String(u.Metadata).String(u.Locale).
		Time(u.SignedOutAt).
		Bytes()
}

func decodeUser(rec []byte) (*User, error) {
	r, v := kv.NewReader(rec)
	if v != userV1 {
		return nil, unknownVersion("user", v)
	}
	u := &User{}
	u.ID, u.Email = r.String(), r.String()
	u.CreatedAt, u.LastSignInAt = r.Time(), r.Time()
	u.Disabled = r.Bool()
	u.Groups = r.Strings()
	u.Metadata, u.Locale = r.String(), r.String()
	u.SignedOutAt = r.Time()
	if err := r.Err("user"); err != nil {
		return nil, err
	}
	return u, nil
}

func unknownVersion(kind string, v byte) error {
	return fmt.Errorf("auth: %s record has encoding version %d, which this release does not know (written by a newer one?): %w", kind, v, kv.ErrCorrupt)
}
