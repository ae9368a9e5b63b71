package oidc

import (
	"flag"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/kv/kvtest"
)

var update = flag.Bool("update", false, "rewrite the golden record encodings in testdata/records")

// The record encodings are golden: what this release writes must be read
// by every later one. A new layout is a new version with its own file.
func TestRecordEncodingsAreStable(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	req := &authRequest{
		ClientID: "grafana", RedirectURI: "https://grafana.example.org/login/generic_oauth", Scope: "openid email offline_access",
		State: "st", Nonce: "n", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Prompt: "login", MaxAge: 300,
		LoginHint: "ada@example.org", UILocales: "de fr", CreatedAt: at, Consented: true,
	}
	g := &grant{
		ClientID: "grafana", RedirectURI: "https://grafana.example.org/cb", UserID: "usr_1", SessionID: "sess_1", Scope: "openid",
		Nonce: "n", CodeChallenge: "c", AuthTime: at, ExpiresAt: at.Add(time.Minute), UsedAt: at.Add(time.Second), FamilyID: "fam",
	}
	f := &family{
		ClientID: "grafana", UserID: "usr_1", SessionID: "sess_1", Scope: "openid offline_access", AuthTime: at, CreatedAt: at,
		ExpiresAt: at.Add(30 * 24 * time.Hour), SecretHash: "hash", Generation: 3, RevokedAt: at.Add(time.Hour),
	}
	c := &consent{Scope: "openid email", GrantedAt: at}
	cases := []struct {
		file   string
		enc    []byte
		decode func([]byte) (any, error)
		want   any
	}{
		{"request.v1", encodeRequest(req), func(b []byte) (any, error) { return decodeRequest(b) }, req},
		{"code.v1", encodeGrant(g), func(b []byte) (any, error) { return decodeGrant(b) }, g},
		{"family.v1", encodeFamily(f), func(b []byte) (any, error) { return decodeFamily(b) }, f},
		{"consent.v1", encodeConsent(c), func(b []byte) (any, error) { return decodeConsent(b) }, c},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			kvtest.Golden(t, tc.file, tc.enc, *update, tc.decode, tc.want, utc)
		})
	}
}

// utc makes decoded times comparable with the fixture's.
func utc(v any) any {
	fix := func(ts ...*time.Time) {
		for _, t := range ts {
			*t = t.UTC()
		}
	}
	switch r := v.(type) {
	case *authRequest:
		c := *r
		fix(&c.CreatedAt)
		return c
	case *grant:
		c := *r
		fix(&c.AuthTime, &c.ExpiresAt, &c.UsedAt)
		return c
	case *family:
		c := *r
		fix(&c.AuthTime, &c.CreatedAt, &c.ExpiresAt, &c.RevokedAt)
		return c
	case *consent:
		c := *r
		fix(&c.GrantedAt)
		return c
	}
	return v
}
