package token

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/vault"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const secret = "token-test-secret-token-test-secret-0123"

// clock is a clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

// mustIssuer returns an issuer on store with the test secret.
func mustIssuer(t testing.TB, store kv.Store, clk Clock, cfg Config) *Issuer {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = "https://login.example.com"
	}
	v, err := vault.New(store, clk, secret)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := New(cfg, store, v, clk)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func mustMint(t testing.TB, iss *Issuer, req AccessRequest) string {
	t.Helper()
	if req.UserID == "" {
		req.UserID, req.Email, req.SessionID = "usr_1", "ada@example.com", "sess_1"
	}
	raw, _, err := iss.MintAccess(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestReplicasStartingAtOnceShareOneKey(t *testing.T) {
	store, clk := memstore.New(), newClock()
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			iss := mustIssuer(t, store, clk, Config{Alg: ES256})
			if err := iss.Ensure(context.Background()); err != nil {
				t.Error(err)
				return
			}
			ids[k], _ = iss.CurrentKeyID(context.Background())
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("replicas sign with different keys: %v", ids)
		}
	}
	infos, err := mustIssuer(t, store, clk, Config{}).Keys(context.Background())
	if err != nil || len(infos) != 1 {
		t.Fatalf("the ring holds %d keys (%v), want 1", len(infos), err)
	}
}

func TestAnotherIssuerOnTheStoreVerifiesAndPublishesTheSame(t *testing.T) {
	store, clk := memstore.New(), newClock()
	a, b := mustIssuer(t, store, clk, Config{}), mustIssuer(t, store, clk, Config{})
	raw := mustMint(t, a, AccessRequest{})
	got, err := b.VerifyAccess(context.Background(), raw)
	if err != nil {
		t.Fatalf("a restarted process refuses a token: %v", err)
	}
	if got.Subject != "usr_1" || got.Email != "ada@example.com" || !got.EmailVerified || got.SessionID != "sess_1" || got.ID == "" {
		t.Fatalf("claims: %+v", got)
	}
	ja, _ := a.JWKS(context.Background())
	jb, _ := b.JWKS(context.Background())
	if !bytes.Equal(ja, jb) {
		t.Fatalf("two processes publish different key sets:\n%s\n%s", ja, jb)
	}
	var set struct{ Keys []map[string]any }
	json.Unmarshal(ja, &set)
	if len(set.Keys) != 1 || set.Keys[0]["use"] != "sig" || set.Keys[0]["alg"] != "RS256" || set.Keys[0]["kty"] != "RSA" || set.Keys[0]["kid"] == "" {
		t.Fatalf("key set: %s", ja)
	}
	if _, ok := set.Keys[0]["d"]; ok {
		t.Fatal("the key set publishes a private key")
	}
}

func TestPrivateKeysAreSealed(t *testing.T) {
	store, clk := memstore.New(), newClock()
	iss := mustIssuer(t, store, clk, Config{})
	mustMint(t, iss, AccessRequest{})
	rec, err := store.Get(context.Background(), ringKey, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := iss.keys(context.Background())
	der, _ := x509.MarshalPKCS8PrivateKey(ks.current.priv)
	d := ks.current.priv.(*rsa.PrivateKey).D.Bytes()
	if bytes.Contains(rec, der) || bytes.Contains(rec, d) {
		t.Fatal("the stored ring holds the private key in the clear")
	}
	// A process with another SESSION_SECRET cannot open it.
	other, _ := vault.New(store, clk, strings.Repeat("x", 40))
	stranger, _ := New(Config{Issuer: "https://login.example.com"}, store, other, clk)
	if _, err := stranger.JWKS(context.Background()); !errors.Is(err, vault.ErrSealedElsewhere) {
		t.Fatalf("a stranger's secret opened the ring: %v", err)
	}
}

// forge builds tokens that Latch never signed.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	sk := jose.SigningKey{Algorithm: alg, Key: key}
	if kid != "" {
		sk.Key = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	s, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	store, clk := memstore.New(), newClock()
	iss := mustIssuer(t, store, clk, Config{Audience: "https://api.example.com"})
	good := mustMint(t, iss, AccessRequest{})
	if _, err := iss.VerifyAccess(ctx, good); err != nil {
		t.Fatalf("a good token is refused: %v", err)
	}
	ks, _ := iss.keys(ctx)
	kid := ks.current.id
	pub := ks.current.priv.Public().(*rsa.PublicKey)
	now := clk.Now().Unix()
	claims := map[string]any{"iss": "https://login.example.com", "aud": "https://api.example.com", "sub": "usr_1", "iat": now, "exp": now + 600}
	parts := strings.Split(good, ".")

	// A stranger's key with Latch's kid, and a stranger's own kid.
	strangerIss := mustIssuer(t, memstore.New(), clk, Config{Audience: "https://api.example.com"})
	strangerKeys, _ := strangerIss.keys(ctx)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)

	var header map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(hb, &header)
	noneHeader := b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid})
	flipped := []byte(parts[2])
	flipped[10] ^= 1
	payload := map[string]any{}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(pb, &payload)
	payload["sub"] = "usr_admin"

	idToken, _, err := iss.Mint(ctx, TypeID, map[string]any{"sub": "usr_1", "aud": "https://api.example.com"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	without := func(k string) map[string]any {
		c := map[string]any{}
		for kk, v := range claims {
			if kk != k {
				c[kk] = v
			}
		}
		return c
	}
	with := func(k string, v any) map[string]any {
		c := without(k)
		c[k] = v
		return c
	}

	for _, tc := range []struct {
		name string
		raw  func() string
	}{
		{"alg none", func() string { return noneHeader + "." + b64(claims) + "." }},
		{"HS256 keyed with the public key (PKIX DER)", func() string { return forge(t, jose.HS256, pubDER, kid, claims) }},
		{"HS256 keyed with the public modulus", func() string { return forge(t, jose.HS256, pub.N.Bytes(), kid, claims) }},
		{"changed payload", func() string { return parts[0] + "." + b64(payload) + "." + parts[2] }},
		{"changed signature", func() string { return parts[0] + "." + parts[1] + "." + string(flipped) }},
		{"unknown kid", func() string { return forge(t, jose.RS256, strangerKeys.current.priv, strangerKeys.current.id, claims) }},
		{"a stranger's key under Latch's kid", func() string { return forge(t, jose.RS256, strangerKeys.current.priv, kid, claims) }},
		{"no kid", func() string { return forge(t, jose.RS256, ks.current.priv, "", claims) }},
		{"wrong audience", func() string {
			return forge(t, jose.RS256, ks.current.priv, kid, with("aud", "https://other.example.com"))
		}},
		{"wrong issuer", func() string {
			return forge(t, jose.RS256, ks.current.priv, kid, with("iss", "https://evil.example.com"))
		}},
		{"expired", func() string { return forge(t, jose.RS256, ks.current.priv, kid, with("exp", now-31)) }},
		{"issued in the future", func() string { return forge(t, jose.RS256, ks.current.priv, kid, with("iat", now+120)) }},
		{"no exp", func() string { return forge(t, jose.RS256, ks.current.priv, kid, without("exp")) }},
		{"no sub", func() string { return forge(t, jose.RS256, ks.current.priv, kid, without("sub")) }},
		{"an ID token used as an access token", func() string { return idToken }},
		{"garbage", func() string { return "not.a.jwt" }},
		{"empty", func() string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := iss.VerifyAccess(ctx, tc.raw())
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("accepted (%+v) or failed without ErrInvalid: %v", got, err)
			}
		})
	}
	// Within the leeway, a token just past exp (clock skew) still verifies.
	if _, err := iss.VerifyAccess(ctx, forge(t, jose.RS256, ks.current.priv, kid, with("exp", now-10))); err != nil {
		t.Fatalf("a token 10 s past exp is refused despite the 30 s leeway: %v", err)
	}
	// The forged-but-correct control: a token built the same way with Latch's key verifies.
	if _, err := iss.VerifyAccess(ctx, forge(t, jose.RS256, ks.current.priv, kid, claims)); err != nil {
		t.Fatalf("the control token is refused, so the cases above prove nothing: %v", err)
	}
	_ = header
}

func TestAutomaticRotation(t *testing.T) {
	ctx := context.Background()
	store, clk := memstore.New(), newClock()
	cfg := Config{Rotation: time.Hour, PublishAhead: 10 * time.Minute, MaxTTL: 2 * time.Hour}
	iss := mustIssuer(t, store, clk, cfg)
	other := mustIssuer(t, store, clk, cfg)
	old := mustMint(t, iss, AccessRequest{UserID: "usr_1", TTL: 2 * time.Hour})
	first, _ := iss.CurrentKeyID(ctx)

	clk.Add(51 * time.Minute) // the next key is published, the current one still signs
	infos, _ := iss.Keys(ctx)
	if len(infos) != 2 || infos[0].ID != first || infos[0].State != StateCurrent || infos[1].State != StateNext {
		t.Fatalf("ten minutes before rotation: %+v", infos)
	}
	next := infos[1].ID
	if kid, _ := other.CurrentKeyID(ctx); kid != first {
		t.Fatalf("the next key signs before its time")
	}

	clk.Add(10 * time.Minute) // rotation time
	if kid, _ := other.CurrentKeyID(ctx); kid != next {
		t.Fatalf("after the rotation time the current key is %s, want the published next key %s", kid, next)
	}
	fresh := mustMint(t, other, AccessRequest{UserID: "usr_1"})
	if c, err := iss.VerifyAccess(ctx, fresh); err != nil || c.KeyID != next {
		t.Fatalf("a new token: %v (kid %v), want kid %s", err, c, next)
	}
	if c, err := iss.VerifyAccess(ctx, old); err != nil || c.KeyID != first {
		t.Fatalf("a token of the retired key is refused before it expires: %v", err)
	}
	infos, _ = iss.Keys(ctx)
	if infos[1].ID != first || infos[1].State != StateRetired || !infos[1].Until.Equal(clk.Now().Add(2*time.Hour+30*time.Second)) {
		t.Fatalf("the retired key: %+v", infos)
	}

	clk.Add(2*time.Hour + 31*time.Second) // every token of the old key has expired
	jwks, _ := iss.JWKS(ctx)
	if strings.Contains(string(jwks), first) {
		t.Fatalf("the retired key is still published after its tokens expired: %s", jwks)
	}
}

func TestRotateNow(t *testing.T) {
	ctx := context.Background()
	store, clk := memstore.New(), newClock()
	a, b := mustIssuer(t, store, clk, Config{}), mustIssuer(t, store, clk, Config{})
	old := mustMint(t, a, AccessRequest{})
	first, _ := b.CurrentKeyID(ctx) // b caches the ring
	info, err := a.Rotate(ctx)
	if err != nil || info.ID == first || info.State != StateCurrent {
		t.Fatalf("rotate: %+v %v", info, err)
	}
	fresh := mustMint(t, a, AccessRequest{})
	// b has not refreshed yet, but a kid it has not seen makes it look.
	if c, err := b.VerifyAccess(ctx, fresh); err != nil || c.KeyID != info.ID {
		t.Fatalf("another replica refuses a token of the new key: %v", err)
	}
	if _, err := b.VerifyAccess(ctx, old); err != nil {
		t.Fatalf("the old token is refused after a rotation: %v", err)
	}
	clk.Add(31 * time.Second) // past Refresh: b signs with the new key
	if kid, _ := b.CurrentKeyID(ctx); kid != info.ID {
		t.Fatalf("another replica still signs with %s after Refresh, want %s", kid, info.ID)
	}
}

func TestES256(t *testing.T) {
	iss := mustIssuer(t, memstore.New(), newClock(), Config{Alg: ES256})
	raw := mustMint(t, iss, AccessRequest{})
	if _, err := iss.VerifyAccess(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	jwks, _ := iss.JWKS(context.Background())
	if !strings.Contains(string(jwks), `"kty":"EC"`) || !strings.Contains(string(jwks), `"alg":"ES256"`) {
		t.Fatalf("key set: %s", jwks)
	}
	if _, err := New(Config{Issuer: "x", Alg: "HS256"}, memstore.New(), nil, newClock()); err == nil {
		t.Fatal("HS256 accepted as a signing algorithm")
	}
}

func TestMintRefusesLifetimesBeyondTheRetiredKeysWindow(t *testing.T) {
	iss := mustIssuer(t, memstore.New(), newClock(), Config{MaxTTL: time.Hour})
	if _, _, err := iss.Mint(context.Background(), TypeAccess, nil, 2*time.Hour); err == nil {
		t.Fatal("a token that would outlive its key's publication was signed")
	}
}

func TestRingEncodingIsStable(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r := &ring{keys: []*entry{
		{ID: "kid-old", Alg: RS256, Created: at, Activated: at, Retired: at.Add(30 * 24 * time.Hour), Sealed: bytes.Repeat([]byte{7}, 40)},
		{ID: "kid-cur", Alg: ES256, Created: at.Add(time.Hour), Activated: at.Add(30 * 24 * time.Hour), Sealed: bytes.Repeat([]byte{8}, 40)},
		{ID: "kid-next", Alg: RS256, Created: at.Add(2 * time.Hour), Sealed: bytes.Repeat([]byte{9}, 40)},
	}}
	path := filepath.Join("testdata", "ring.v1.golden")
	enc := encodeRing(r)
	if *update {
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	got, err := decodeRing(golden)
	if err != nil {
		t.Fatalf("decode the golden bytes: %v", err)
	}
	for _, e := range append(got.keys, r.keys...) {
		e.Created, e.Activated, e.Retired = e.Created.UTC(), e.Activated.UTC(), e.Retired.UTC()
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("golden bytes decode to %+v, want %+v", got.keys, r.keys)
	}
	if got.keys[0].state() != StateRetired || got.keys[1].state() != StateCurrent || got.keys[2].state() != StateNext {
		t.Fatal("states of the golden ring")
	}
	if !bytes.Equal(enc, golden) {
		t.Fatal("this release writes the key ring differently from the golden file: a new layout needs a new version")
	}
	if _, err := decodeRing(golden[:len(golden)-3]); err == nil {
		t.Fatal("a truncated ring decoded")
	}
	if _, err := decodeRing(append([]byte{99}, golden[1:]...)); err == nil {
		t.Fatal("a ring of an unknown version decoded")
	}
}

func BenchmarkMintAccess(b *testing.B) {
	for _, alg := range []string{RS256, ES256} {
		b.Run(alg, func(b *testing.B) {
			iss := mustIssuer(b, memstore.New(), newClock(), Config{Alg: alg})
			mustMint(b, iss, AccessRequest{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := iss.MintAccess(context.Background(), AccessRequest{UserID: "usr_1", Email: "ada@example.com", SessionID: "sess_1"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkVerifyAccess(b *testing.B) {
	for _, alg := range []string{RS256, ES256} {
		b.Run(alg, func(b *testing.B) {
			iss := mustIssuer(b, memstore.New(), newClock(), Config{Alg: alg})
			raw := mustMint(b, iss, AccessRequest{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := iss.VerifyAccess(context.Background(), raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func TestSecretRotationKeepsTheKeys(t *testing.T) {
	ctx := context.Background()
	store, clk := memstore.New(), newClock()
	const newSecret = "the-next-session-secret-the-next-0123456"
	old := mustIssuer(t, store, clk, Config{})
	raw := mustMint(t, old, AccessRequest{})

	// SESSION_SECRET rotated, the old one kept as SESSION_SECRET_PREVIOUS:
	// the keys open, and are sealed again under the new secret…
	both, _ := vault.New(store, clk, newSecret, secret)
	during, _ := New(Config{Issuer: "https://login.example.com"}, store, both, clk)
	if _, err := during.VerifyAccess(ctx, raw); err != nil {
		t.Fatalf("after a secret rotation: %v", err)
	}
	// …so they still open once the previous secret is dropped.
	onlyNew, _ := vault.New(store, clk, newSecret)
	after, _ := New(Config{Issuer: "https://login.example.com"}, store, onlyNew, clk)
	if _, err := after.VerifyAccess(ctx, raw); err != nil {
		t.Fatalf("with SESSION_SECRET_PREVIOUS dropped: %v", err)
	}
}
