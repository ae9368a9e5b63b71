package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// mustSignIn signs c in as email by code and returns the user id.
func mustSignIn(t *testing.T, c *client, email string, replicas ...*latch) string {
	t.Helper()
	status, sent := c.postJSON("/api/auth/passwordless/email/send", map[string]string{"email": email})
	if status != 200 {
		t.Fatalf("send: %d %v", status, sent)
	}
	var code string
	if len(replicas) > 0 {
		code, _ = mailFrom(t, email, map[string]bool{}, replicas...)
	} else {
		code, _ = c.lastMail(email)
	}
	status, login := c.postJSON("/api/auth/passwordless/email/verify/code", map[string]any{"authRequestId": sent["authRequestId"], "code": code})
	if status != 200 {
		t.Fatalf("verify: %d %v", status, login)
	}
	return login["user"].(map[string]any)["id"].(string)
}

// mustToken asks for an access token with c's session.
func mustToken(t *testing.T, c *client) string {
	t.Helper()
	status, v := c.postJSON("/api/auth/token", nil)
	if status != 200 || v["tokenType"] != "Bearer" || v["expiresIn"] != float64(600) {
		t.Fatalf("POST /api/auth/token: %d %v", status, v)
	}
	return v["accessToken"].(string)
}

// bearerMe asks GET /api/me with only an Authorization header.
func bearerMe(t *testing.T, base, raw string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v, resp.Header
}

func mustJWKS(t *testing.T, base, path string) []byte {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("GET %s: %d, Cache-Control %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	return b
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

// mustRunKeys runs `latch keys <verb>` with env and returns its output.
func mustRunKeys(t *testing.T, env map[string]string, verb string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", verb}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("latch keys %s: %v\n%s", verb, err, out.String())
	}
	return out.String()
}

func TestAccessTokensVerifyOfflineAndOnAPIMe(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A fixed BASE_URL (the issuer), so that a restart on another port is
	// still the same issuer.
	const base = "http://localhost:1" // a fixed issuer on loopback, where the dev outbox exists
	env := testEnv(dir, "CORS_ALLOWED_ORIGINS", "https://spa.example.com", "BASE_URL", base)
	l := startLatch(t, env)
	c := newBrowser(t, l.base)
	userID := mustSignIn(t, c, "ada@example.com")
	raw := mustToken(t, c)

	// go-jose, with the key set fetched from Latch.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(mustJWKS(t, l.base, "/.well-known/jwks.json"), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v %+v", err, set)
	}
	if k := set.Keys[0]; k.KeyID == "" || k.Algorithm != "RS256" || k.Use != "sig" || !k.IsPublic() {
		t.Fatalf("the published key: %+v", k)
	}
	if !bytes.Equal(mustJWKS(t, l.base, "/keys"), mustJWKS(t, l.base, "/.well-known/jwks.json")) {
		t.Fatal("/keys and /.well-known/jwks.json differ")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if h := tok.Headers[0]; h.KeyID != set.Keys[0].KeyID || h.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("header: kid %q typ %v", h.KeyID, h.ExtraHeaders["typ"])
	}
	var std jwt.Claims
	var extra struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		SID           string `json:"sid"`
	}
	if err := tok.Claims(set.Key(tok.Headers[0].KeyID)[0].Key, &std, &extra); err != nil {
		t.Fatalf("go-jose refuses Latch's signature: %v", err)
	}
	if err := std.Validate(jwt.Expected{Issuer: base, AnyAudience: jwt.Audience{base}, Subject: userID, Time: time.Now()}); err != nil {
		t.Fatalf("claims %+v: %v", std, err)
	}
	if extra.Email != "ada@example.com" || !extra.EmailVerified || extra.SID == "" || std.ID == "" || std.Expiry.Time().Sub(std.IssuedAt.Time()) != 10*time.Minute {
		t.Fatalf("claims: %+v %+v", std, extra)
	}

	// go-oidc's RemoteKeySet, as an API would verify.
	keySet := oidc.NewRemoteKeySet(ctx, l.base+"/keys")
	verifier := func(aud string, now func() time.Time) *oidc.IDTokenVerifier {
		return oidc.NewVerifier(base, keySet, &oidc.Config{ClientID: aud, Now: now, SupportedSigningAlgs: []string{"RS256", "ES256"}})
	}
	if idt, err := verifier(base, nil).Verify(ctx, raw); err != nil || idt.Subject != userID {
		t.Fatalf("go-oidc refuses a Latch token: %v", err)
	}
	parts := strings.Split(raw, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(userID), []byte("usr_someone_else"), 1)) + "." + parts[2]
	strangerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unknownKid := forgeJWT(t, jose.ES256, strangerKey, "not-a-latch-key", map[string]any{"iss": base, "aud": base, "sub": userID, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	for _, tc := range []struct {
		name, raw string
		v         *oidc.IDTokenVerifier
	}{
		{"tampered", tampered, verifier(base, nil)},
		{"wrong audience", raw, verifier("https://other-api.example.com", nil)},
		{"expired", raw, verifier(base, func() time.Time { return time.Now().Add(11 * time.Minute) })},
		{"unknown kid", unknownKid, verifier(base, nil)},
	} {
		if _, err := tc.v.Verify(ctx, tc.raw); err == nil {
			t.Errorf("go-oidc accepts a %s token", tc.name)
		}
		if status, _, _ := bearerMe(t, l.base, tc.raw); tc.name != "wrong audience" && tc.name != "expired" && status != 401 {
			t.Errorf("/api/me accepts a %s token: %d", tc.name, status)
		}
	}

	// Latch's own verification on /api/me: the token works without the cookie…
	status, me, _ := bearerMe(t, l.base, raw)
	if status != 200 || me["user"].(map[string]any)["id"] != userID || me["user"].(map[string]any)["email"] != "ada@example.com" {
		t.Fatalf("/api/me by bearer: %d %v", status, me)
	}
	// …and refuses alg none and HS256 keyed with the public key.
	kid := set.Keys[0].KeyID
	claims := map[string]any{"iss": base, "aud": base, "sub": userID, "sid": extra.SID, "email": "ada@example.com", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}
	hdr, _ := json.Marshal(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid})
	body, _ := json.Marshal(claims)
	none := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body) + "."
	pubDER, _ := x509.MarshalPKIXPublicKey(set.Keys[0].Key)
	pubN := set.Keys[0].Key.(*rsa.PublicKey).N.Bytes()
	for name, forged := range map[string]string{
		"alg none":                  none,
		"HS256 with the public key": forgeJWT(t, jose.HS256, pubDER, kid, claims),
		"HS256 with the modulus":    forgeJWT(t, jose.HS256, pubN, kid, claims),
	} {
		if status, _, h := bearerMe(t, l.base, forged); status != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("/api/me with %s: %d (WWW-Authenticate %q), want 401", name, status, h.Get("WWW-Authenticate"))
		}
	}

	// No session, no token; another site's form cannot ask for one; the SPA can.
	if status, v := newBrowser(t, l.base).postJSON("/api/auth/token", nil); status != 401 || v["code"] != "unauthorized" {
		t.Fatalf("token without a session: %d %v", status, v)
	}
	for _, tc := range []struct {
		origin string
		want   int
	}{{"https://evil.example.com", 403}, {"https://spa.example.com", 200}} {
		req, _ := http.NewRequest(http.MethodPost, l.base+"/api/auth/token", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST /api/auth/token from %s: %d, want %d", tc.origin, resp.StatusCode, tc.want)
		}
		if tc.want == 200 && (resp.Header.Get("Access-Control-Allow-Origin") != tc.origin || resp.Header.Get("Access-Control-Allow-Credentials") != "true") {
			t.Errorf("CORS for the SPA: %v", resp.Header)
		}
	}
	pre, _ := http.NewRequest(http.MethodOptions, l.base+"/api/me", nil)
	pre.Header.Set("Origin", "https://spa.example.com")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	pre.Header.Set("Access-Control-Request-Headers", "authorization")
	if resp, err := http.DefaultClient.Do(pre); err != nil || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("preflight for a bearer /api/me from the SPA: %v %v", err, resp.Header)
	}

	// Rotation: new tokens carry the new kid, old ones still verify.
	out := mustRunKeys(t, env, "rotate")
	if !strings.Contains(out, "rotated: new tokens are signed by ") || !strings.Contains(out, kid) || !strings.Contains(out, "retired") {
		t.Fatalf("latch keys rotate:\n%s", out)
	}
	fresh := mustToken(t, c)
	if kidOf(t, fresh) == kid {
		t.Fatal("a token minted after rotation carries the old kid")
	}
	for name, tok := range map[string]string{"old": raw, "new": fresh} {
		if _, err := verifier(base, nil).Verify(ctx, tok); err != nil {
			t.Errorf("go-oidc after rotation, the %s token: %v", name, err)
		}
		if status, _, _ := bearerMe(t, l.base, tok); status != 200 {
			t.Errorf("/api/me after rotation, the %s token: %d", name, status)
		}
	}
	if list := mustRunKeys(t, env, "list"); !strings.Contains(list, kidOf(t, fresh)+"  RS256  current") {
		t.Errorf("latch keys list:\n%s", list)
	}

	// A restart keeps the keys.
	before := mustJWKS(t, l.base, "/keys")
	l.stop()
	l2 := startLatch(t, env)
	if after := mustJWKS(t, l2.base, "/keys"); !bytes.Equal(before, after) {
		t.Fatalf("the key set changed across a restart:\n%s\n%s", before, after)
	}
	if status, _, _ := bearerMe(t, l2.base, fresh); status != 200 {
		t.Fatalf("/api/me after a restart with a token from before it: %d", status)
	}

	// Signing out ends the token at /api/me, though its signature still verifies.
	c.base = l2.base
	raw = mustToken(t, c)
	if status, _, _ := bearerMe(t, l2.base, raw); status != 200 {
		t.Fatalf("/api/me by bearer before logout: %d", status)
	}
	if status, _ := c.postJSON("/api/auth/logout", nil); status != 200 {
		t.Fatalf("logout: %d", status)
	}
	if status, v, _ := bearerMe(t, l2.base, raw); status != 401 || v["code"] != "unauthorized" {
		t.Fatalf("/api/me with the token of an ended session: %d %v, want 401", status, v)
	}
}

func forgeJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestReplicasPublishOneKeySet(t *testing.T) {
	url := testRedisURL(t)
	prefix := randomPrefix()
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	// One public URL for both, as behind a load balancer: one issuer. It
	// stays on loopback, where the dev outbox (which the test reads codes
	// from) may exist.
	envA, envB := redisEnv(t, url, prefix), redisEnv(t, url, prefix)
	envA["BASE_URL"], envB["BASE_URL"] = "http://localhost:1", "http://localhost:1"
	a := startLatch(t, envA)
	b := startLatch(t, envB)
	first := mustJWKS(t, a.base, "/keys")
	if !bytes.Equal(first, mustJWKS(t, b.base, "/keys")) {
		t.Fatalf("two replicas publish different key sets")
	}
	c := newBrowser(t, a.base)
	mustSignIn(t, c, "ada@example.com", a, b)
	raw := mustToken(t, c)
	if status, _, _ := bearerMe(t, b.base, raw); status != 200 {
		t.Fatalf("B refuses A's token on /api/me: %d", status)
	}

	// Rotating on A: A signs with the new key at once, B accepts it at
	// once (an unseen kid makes it read the ring) and publishes it.
	mustRunKeys(t, envA, "rotate")
	fresh := mustToken(t, c)
	if kidOf(t, fresh) == kidOf(t, raw) {
		t.Fatal("A signs with the old key after rotating")
	}
	if status, _, _ := bearerMe(t, b.base, fresh); status != 200 {
		t.Fatalf("B refuses a token of the key A just rotated to: %d", status)
	}
	if status, _, _ := bearerMe(t, b.base, raw); status != 200 {
		t.Fatalf("B refuses a token of the retired key: %d", status)
	}
	var set jose.JSONWebKeySet
	json.Unmarshal(mustJWKS(t, b.base, "/keys"), &set)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != kidOf(t, fresh) || !bytes.Equal(mustJWKS(t, a.base, "/keys"), mustJWKS(t, b.base, "/keys")) {
		t.Fatalf("the replicas' key sets after rotation: %+v", set.Keys)
	}

	// Without a server on this machine, the command opens Redis itself.
	direct := redisEnv(t, url, prefix)
	if out := mustRunKeys(t, direct, "list"); !strings.Contains(out, kidOf(t, fresh)) || !strings.Contains(out, kidOf(t, raw)) {
		t.Fatalf("latch keys list straight from Redis:\n%s", out)
	}
}

func TestKeysCommandWithoutARunningServer(t *testing.T) {
	env := testEnv(t.TempDir())
	var out bytes.Buffer
	err := run(context.Background(), []string{"keys", "rotate"}, func(k string) string { return env[k] }, &out)
	if err == nil || !strings.Contains(err.Error(), "no Latch is running") || !strings.Contains(err.Error(), env["DATA_DIR"]) {
		t.Fatalf("keys rotate with nothing running: %v, want a message that no Latch is running with that DATA_DIR", err)
	}
	var ex exitError
	for _, args := range [][]string{{"keys"}, {"keys", "shred"}, {"keys", "list", "extra"}} {
		if err := run(context.Background(), args, func(k string) string { return env[k] }, &out); !errors.As(err, &ex) || ex.code != 2 {
			t.Errorf("latch %v: %v, want exit code 2", args, err)
		}
	}
}

func TestTokenSettingsAreChecked(t *testing.T) {
	env := map[string]string{"SIGNING_KEY_ALG": "HS256", "SIGNING_KEY_ROTATION": "10m", "JWT_TTL": "48h"}
	_, err := loadConfig(func(k string) string { return env[k] })
	for _, name := range []string{"SIGNING_KEY_ALG", "SIGNING_KEY_ROTATION", "JWT_TTL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("a bad %s is not reported: %v", name, err)
		}
	}
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil || cfg.SigningKeyAlg != "RS256" || cfg.SigningKeyRotation != 30*24*time.Hour || cfg.JWTTTL != 10*time.Minute || cfg.JWTAudience != "" {
		t.Fatalf("token defaults: %v %+v", err, cfg)
	}
}
