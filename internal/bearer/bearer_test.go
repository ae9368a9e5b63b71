package bearer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func key(k string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return []byte(k), nil }
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	admin := &Tokens{Prefix: "lat1.", Purpose: "admin bearer token", Key: key("k1"), TTL: time.Minute}
	tok, exp, err := admin.Issue(context.Background(), "ops", now)
	if err != nil || !strings.HasPrefix(tok, "lat1.") || !exp.Equal(now.Add(time.Minute)) {
		t.Fatalf("Issue = %q %v %v", tok, exp, err)
	}
	if id, err := admin.Check(context.Background(), tok, now.Add(59*time.Second)); err != nil || id != "ops" {
		t.Fatalf("Check of a live token = %q %v", id, err)
	}
	for _, tc := range []struct {
		name   string
		tokens *Tokens
		token  string
		at     time.Time
	}{
		{"expired", admin, tok, exp},
		{"another kind's prefix", &Tokens{Prefix: "lpt1.", Purpose: "admin bearer token", Key: key("k1"), TTL: time.Minute}, tok, now},
		{"another purpose, same key and prefix", &Tokens{Prefix: "lat1.", Purpose: "bearer token", Key: key("k1"), TTL: time.Minute}, tok, now},
		{"another key", &Tokens{Prefix: "lat1.", Purpose: "admin bearer token", Key: key("k2"), TTL: time.Minute}, tok, now},
		{"tampered", admin, tok[:len(tok)-3] + "AAA", now},
		{"no MAC", admin, strings.Split(tok, ".")[0] + "." + strings.Split(tok, ".")[1], now},
		{"a JWT", admin, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", now},
		{"too long", admin, "lat1." + strings.Repeat("A", MaxLength), now},
	} {
		if _, err := tc.tokens.Check(context.Background(), tc.token, tc.at); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", tc.name, err)
		}
	}
	down := &Tokens{Prefix: "lat1.", Purpose: "p", Key: func(context.Context) ([]byte, error) { return nil, errors.New("store down") }, TTL: time.Minute}
	if _, err := down.Check(context.Background(), tok, now); !errors.Is(err, ErrKey) {
		t.Errorf("Check with the key unavailable = %v, want ErrKey", err)
	}
}

func TestFromHeader(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "": "", "Bearer": ""} {
		if got := FromHeader(in); got != want {
			t.Errorf("FromHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
