package auth

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/kv/kvtest"
)

var update = flag.Bool("update", false, "rewrite the golden record encodings in testdata/records")

// The record encodings are golden: what this release writes must be read
// by every later one. A change of layout is a new version byte with its
// own golden file, never an edit of an old one.
func TestRecordEncodingsAreStable(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	challenge := &Challenge{
		ID: "ch_golden", Email: "Ada@example.org", Type: TypeLinkOTP, Template: TemplateSignUp,
		State: "app-state", RedirectTo: "https://app.example.org/after", LinkURL: "https://login.example.org/api/auth/passwordless/verify",
		CodeHash: bytes.Repeat([]byte{1}, 32), TokenHash: bytes.Repeat([]byte{2}, 32), BindingHash: bytes.Repeat([]byte{3}, 32),
		Attempts: 2, TemplateVariables: map[string]string{"team": "Ops", "app": "Grafana"},
		CreatedAt: at, SentAt: at.Add(time.Minute), ExpiresAt: at.Add(6 * time.Minute), UsedAt: at.Add(2 * time.Minute),
		ClientID: "app1", Requester: "net:203.0.113.0/24", ReservedAt: at, Locale: "de",
	}
	session := &Session{
		ID: "sess_golden", UserID: "usr_golden", Email: "Ada@example.org",
		CreatedAt: at, LastSeenAt: at.Add(time.Hour), ExpiresAt: at.Add(7 * 24 * time.Hour), IdleTimeout: 4 * time.Hour,
		Method: "link", Device: "Firefox on Linux", Network: "203.0.113.0/24",
	}
	user := &User{
		ID: "usr_golden", Email: "Ada@example.org", CreatedAt: at, LastSignInAt: at.Add(time.Hour),
		Disabled: true, Groups: []string{"ops", "admins"}, Metadata: `{"team":"ops"}`, Locale: "fr", SignedOutAt: at.Add(2 * time.Hour),
	}
	cases := []struct {
		file   string
		enc    []byte
		decode func([]byte) (any, error)
		want   any
	}{
		{"challenge.v1", encodeChallenge(challenge), func(b []byte) (any, error) { return decodeChallenge("ch_golden", b) }, challenge},
		{"session.v1", encodeSession(session), func(b []byte) (any, error) { return decodeSession("sess_golden", b) }, session},
		{"user.v1", encodeUser(user), func(b []byte) (any, error) { return decodeUser(b) }, user},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			kvtest.Golden(t, tc.file, tc.enc, *update, tc.decode, tc.want, normalise)
		})
	}
}

// normalise puts times in one location so that DeepEqual compares instants.
func normalise(v any) any {
	switch r := v.(type) {
	case *Challenge:
		c := *r
		for _, p := range []*time.Time{&c.CreatedAt, &c.SentAt, &c.ExpiresAt, &c.UsedAt, &c.ReservedAt} {
			*p = p.UTC()
		}
		return c
	case *Session:
		s := *r
		for _, p := range []*time.Time{&s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt} {
			*p = p.UTC()
		}
		return s
	case *User:
		u := *r
		u.CreatedAt, u.LastSignInAt, u.SignedOutAt = u.CreatedAt.UTC(), u.LastSignInAt.UTC(), u.SignedOutAt.UTC()
		return u
	}
	return v
}

func TestEmptyHashesNeverMatch(t *testing.T) {
	for _, tc := range []struct {
		stored     []byte
		candidates [][]byte
	}{
		{nil, [][]byte{nil}},
		{nil, [][]byte{{}}},
		{[]byte{}, [][]byte{{}}},
		{nil, nil},
	} {
		if matchAny(tc.stored, tc.candidates) {
			t.Errorf("matchAny(%v, %v) = true", tc.stored, tc.candidates)
		}
	}
	if !matchAny([]byte{1, 2}, [][]byte{{9}, {1, 2}}) {
		t.Error("a matching candidate was not found")
	}
}
