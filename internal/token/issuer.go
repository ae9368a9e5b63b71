package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latch-auth/latch/internal/kv"
)

// Sealer seals private keys at rest; *vault.Vault implements it. Open
// reports whether the current secret sealed it (unused here: a key sealed
// under SESSION_SECRET_PREVIOUS still opens).
type Sealer interface {
	Seal(plaintext []byte, purpose string) []byte
	Open(sealed []byte, purpose string) (plaintext []byte, current bool, err error)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Token types: the JOSE "typ" header of what the issuer signs.
const (
	TypeAccess = "at+jwt" // RFC 9068 access tokens
	TypeID     = "JWT"    // OpenID Connect ID tokens
)

// ErrInvalid is wrapped into every refusal of a token: malformed, an
// algorithm other than the key's, an unknown key id, a bad signature, a
// wrong type, issuer or audience, expired or not yet valid. Any other
// error from Verify is the store's (answer 503, not 401).
var ErrInvalid = errors.New("token: invalid token")

// Config is the issuer's share of the configuration; zero fields take the
// documented defaults.
type Config struct {
	// Issuer is the iss of every token: BASE_URL without a trailing slash.
	Issuer string
	// Audience is the aud of access tokens minted without one (default Issuer).
	Audience string
	// Alg signs new keys: RS256 (default) or ES256. Keys already in the
	// ring keep their own algorithm until they retire.
	Alg string
	// RSABits is the size of new RSA keys: 2048 (default) or 3072.
	RSABits int
	// Rotation is how long a key signs before the next one takes over (30 days).
	Rotation time.Duration
	// PublishAhead is how long the next key is published before it signs
	// (default the smaller of 10 minutes and a quarter of Rotation), so a
	// verifier that caches the key set for a few minutes already has it.
	PublishAhead time.Duration
	// AccessTTL is the lifetime of access tokens (10 minutes).
	AccessTTL time.Duration
	// MaxTTL bounds the lifetime of any token the issuer signs (24 hours);
	// a retired key stays published MaxTTL plus Leeway after it retires.
	MaxTTL time.Duration
	// Refresh is how long the key ring is cached in memory (30 seconds): a
	// rotation on one replica reaches the others within Refresh, and a
	// token signed by a key this process has not seen yet makes it read
	// the ring at once (at most once a second).
	Refresh time.Duration
	// Leeway is the clock skew Verify allows on exp, nbf and iat (30 seconds).
	Leeway time.Duration
}

func (c *Config) defaults() error {
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if c.Issuer == "" {
		return errors.New("token: an issuer is required")
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	if c.Alg == "" {
		c.Alg = RS256
	}
	if c.Alg != RS256 && c.Alg != ES256 {
		return fmt.Errorf("token: signing algorithm %q is not RS256 or ES256", c.Alg)
	}
	if c.RSABits == 0 {
		c.RSABits = 2048
	}
	if c.RSABits != 2048 && c.RSABits != 3072 {
		return fmt.Errorf("token: RSA keys of %d bits: want 2048 or 3072", c.RSABits)
	}
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&c.Rotation, 30*24*time.Hour)
	set(&c.PublishAhead, min(10*time.Minute, c.Rotation/4))
	set(&c.AccessTTL, 10*time.Minute)
	set(&c.MaxTTL, 24*time.Hour)
	set(&c.Refresh, 30*time.Second)
	set(&c.Leeway, 30*time.Second)
	if c.AccessTTL > c.MaxTTL {
		return fmt.Errorf("token: access token lifetime %s is longer than the longest allowed, %s", c.AccessTTL, c.MaxTTL)
	}
	return nil
}

// Issuer signs and verifies Latch's JWTs with the shared key ring. Safe
// for concurrent use.
type Issuer struct {
	cfg    Config
	plan   plan
	store  kv.Store
	sealer Sealer
	clock  Clock

	mu         sync.Mutex // one load at a time
	lastForced time.Time
	cache      atomic.Pointer[keySet]
}

// keySet is one load of the ring, ready to sign and verify.
type keySet struct {
	loaded  time.Time
	current *signingKey
	byID    map[string]*signingKey
	jwks    []byte
	infos   []KeyInfo
}

type signingKey struct {
	id, alg string
	priv    crypto.Signer
	signers map[string]jose.Signer // by token type
}

// New returns an issuer keeping its keys in store, sealed by sealer. It
// touches the store only when first used (or Ensure is called).
func New(cfg Config, store kv.Store, sealer Sealer, clock Clock) (*Issuer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Issuer{
		cfg:   cfg,
		plan:  plan{rotation: cfg.Rotation, ahead: cfg.PublishAhead, keep: cfg.MaxTTL + cfg.Leeway},
		store: store, sealer: sealer, clock: clock,
	}, nil
}

// Config returns the issuer's configuration with its defaults applied.
func (i *Issuer) Config() Config { return i.cfg }

// Ensure loads the key ring, generating the first key when there is none
// (every replica that starts at once ends with the same one).
func (i *Issuer) Ensure(ctx context.Context) error {
	_, err := i.reload(ctx, i.cache.Load())
	return err
}

// keys returns the cached key set, reading the ring again once it is
// older than Refresh.
func (i *Issuer) keys(ctx context.Context) (*keySet, error) {
	ks := i.cache.Load()
	if ks != nil && i.clock.Now().Sub(ks.loaded) < i.cfg.Refresh {
		return ks, nil
	}
	return i.reload(ctx, ks)
}

// reload reads the ring unless another caller already replaced seen.
// While the store is down it keeps serving what it had (signing with a
// cached key is safe) and tries again a second later.
func (i *Issuer) reload(ctx context.Context, seen *keySet) (*keySet, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if ks := i.cache.Load(); ks != seen {
		return ks, nil
	}
	ks, err := i.load(ctx, seen)
	if err != nil {
		if seen != nil && errors.Is(err, kv.ErrUnavailable) {
			stale := *seen
			stale.loaded = i.clock.Now().Add(time.Second - i.cfg.Refresh)
			i.cache.Store(&stale)
			return &stale, nil
		}
		return nil, err
	}
	i.cache.Store(ks)
	return ks, nil
}

// load reads the ring, maintains it when its schedule says so, and
// builds the key set, reusing the keys prev already opened.
func (i *Issuer) load(ctx context.Context, prev *keySet) (*keySet, error) {
	now := i.clock.Now()
	rec, err := i.store.Get(ctx, ringKey, now)
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("token: read the key ring: %w", err)
	}
	r, err := decodeRing(rec)
	if err != nil {
		return nil, err
	}
	probe, _ := decodeRing(rec)
	if changed, need := i.plan.maintain(probe, now, nil); changed || need {
		if r, err = i.modify(ctx, i.plan.maintain); err != nil {
			return nil, err
		}
	}
	ks, stale, err := i.build(r, now, prev)
	if err == nil && stale {
		// Best effort: a failed reseal leaves the keys as they were, and
		// the next load tries again.
		if r, rerr := i.modify(ctx, reseal(i.sealer)); rerr == nil {
			ks, _, err = i.build(r, now, ks)
		}
	}
	return ks, err
}

// modify applies step to the stored ring in one atomic update,
// generating a key first when step needs one.
func (i *Issuer) modify(ctx context.Context, step func(r *ring, now time.Time, fresh *entry) (changed, needKey bool)) (*ring, error) {
	var fresh *entry
	for range 3 {
		now := i.clock.Now()
		var out *ring
		need := false
		err := i.store.Update(ctx, ringKey, now, func(cur []byte) (kv.Change, error) {
			out, need = nil, false
			r, err := decodeRing(cur)
			if err != nil {
				return kv.Change{}, err
			}
			var f *entry
			if fresh != nil {
				c := *fresh
				f = &c
			}
			changed, needKey := step(r, now, f)
			out = r
			switch {
			case needKey:
				need = true
				return kv.Change{Op: kv.Keep}, nil
			case !changed:
				return kv.Change{Op: kv.Keep}, nil
			}
			return kv.Change{Op: kv.Write, Value: encodeRing(r)}, nil
		})
		if err != nil {
			return nil, fmt.Errorf("token: update the key ring: %w", err)
		}
		if !need {
			return out, nil
		}
		if fresh, _, err = generate(i.cfg.Alg, i.cfg.RSABits, i.sealer, now); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("token: update the key ring: it kept changing under this update")
}

// build opens the ring's keys (reusing those prev opened); stale reports
// a key sealed under a previous secret.
func (i *Issuer) build(r *ring, now time.Time, prev *keySet) (ks *keySet, stale bool, err error) {
	ks = &keySet{loaded: now, byID: map[string]*signingKey{}}
	var set jose.JSONWebKeySet
	cur := r.find(StateCurrent)
	// The current key first: a verifier that takes the first key takes the right one.
	ordered := make([]*entry, 0, len(r.keys))
	if cur != nil {
		ordered = append(ordered, cur)
	}
	for _, e := range r.keys {
		if e != cur {
			ordered = append(ordered, e)
		}
	}
	for _, e := range ordered {
		k := prevKey(prev, e.ID)
		if k == nil {
			priv, current, err := open(e, i.sealer)
			if err != nil {
				return nil, false, err
			}
			stale = stale || !current
			k = &signingKey{id: e.ID, alg: e.Alg, priv: priv, signers: map[string]jose.Signer{}}
			for _, typ := range []string{TypeAccess, TypeID} {
				s, err := newSigner(k, typ)
				if err != nil {
					return nil, false, err
				}
				k.signers[typ] = s
			}
		}
		ks.byID[e.ID] = k
		if e == cur {
			ks.current = k
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: e.ID, Algorithm: e.Alg, Use: "sig"})
		ks.infos = append(ks.infos, i.info(r, e))
	}
	if ks.current == nil {
		return nil, false, errors.New("token: the key ring has no current key")
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, false, fmt.Errorf("token: encode the key set: %w", err)
	}
	ks.jwks = b
	return ks, stale, nil
}

func prevKey(prev *keySet, id string) *signingKey {
	if prev == nil {
		return nil
	}
	return prev.byID[id]
}

func newSigner(k *signingKey, typ string) (jose.Signer, error) {
	s, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: jose.JSONWebKey{Key: k.priv, KeyID: k.id}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("token: signer for key %s: %w", k.id, err)
	}
	return s, nil
}

// KeyInfo describes one key of the ring (for `latch keys list`).
type KeyInfo struct {
	ID      string
	Alg     string
	State   State
	Created time.Time
	// Until is when the key's state ends: a next key starts signing, the
	// current key is replaced, a retired key is no longer published.
	Until time.Time
}

func (i *Issuer) info(r *ring, e *entry) KeyInfo {
	ki := KeyInfo{ID: e.ID, Alg: e.Alg, State: e.state(), Created: e.Created}
	switch ki.State {
	case StateRetired:
		ki.Until = e.Retired.Add(i.plan.keep)
	case StateCurrent:
		ki.Until = e.Activated.Add(i.plan.rotation)
	case StateNext:
		ki.Until = e.Created.Add(i.plan.ahead)
		if cur := r.find(StateCurrent); cur != nil && cur.Activated.Add(i.plan.rotation).After(ki.Until) {
			ki.Until = cur.Activated.Add(i.plan.rotation)
		}
	}
	return ki
}

// Keys reads the ring afresh and describes its keys, the current one first.
func (i *Issuer) Keys(ctx context.Context) ([]KeyInfo, error) {
	ks, err := i.reload(ctx, i.cache.Load())
	if err != nil {
		return nil, err
	}
	return ks.infos, nil
}

// Rotate makes a new key current now (the published next key when there
// is one); the key it replaces stays published until its tokens expire.
// Other replicas sign with the new key within Refresh.
func (i *Issuer) Rotate(ctx context.Context) (KeyInfo, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	r, err := i.modify(ctx, rotateNow)
	if err != nil {
		return KeyInfo{}, err
	}
	ks, _, err := i.build(r, i.clock.Now(), i.cache.Load())
	if err != nil {
		return KeyInfo{}, err
	}
	i.cache.Store(ks)
	return ks.infos[0], nil
}

// JWKS returns the public key set (RFC 7517) of every published key.
func (i *Issuer) JWKS(ctx context.Context) ([]byte, error) {
	ks, err := i.keys(ctx)
	if err != nil {
		return nil, err
	}
	return ks.jwks, nil
}

// CurrentKeyID returns the id of the key that signs new tokens.
func (i *Issuer) CurrentKeyID(ctx context.Context) (string, error) {
	ks, err := i.keys(ctx)
	if err != nil {
		return "", err
	}
	return ks.current.id, nil
}

// Mint signs claims as a token of type typ that lives ttl. It sets iss,
// iat and exp itself, and jti unless claims has one; every other claim
// (sub, aud, nonce, auth_time, azp, scope, …) is the caller's.
func (i *Issuer) Mint(ctx context.Context, typ string, claims map[string]any, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 || ttl > i.cfg.MaxTTL {
		return "", time.Time{}, fmt.Errorf("token: a lifetime of %s is outside (0, %s]", ttl, i.cfg.MaxTTL)
	}
	ks, err := i.keys(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	now := i.clock.Now()
	exp := now.Add(ttl)
	c := maps.Clone(claims)
	if c == nil {
		c = map[string]any{}
	}
	c["iss"] = i.cfg.Issuer
	c["iat"] = now.Unix()
	c["exp"] = exp.Unix()
	if _, ok := c["jti"]; !ok {
		c["jti"] = randomID()
	}
	signer := ks.current.signers[typ]
	if signer == nil {
		if signer, err = newSigner(ks.current, typ); err != nil {
			return "", time.Time{}, err
		}
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: sign: %w", err)
	}
	return raw, exp, nil
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Expect is what Verify requires of a token besides a good signature by
// a published key and the issuer.
type Expect struct {
	Audience string // one of the token's aud values; required
	Type     string // the typ header (TypeAccess, TypeID); required
}

// Claims are a verified token's claims.
type Claims struct {
	Subject  string
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
	ID       string // jti
	KeyID    string // the kid that signed it
	// All holds every claim as JSON decoded it, for the ones this struct
	// does not name.
	All map[string]any
}

// maxTokenSize bounds what Verify parses.
const maxTokenSize = 16 << 10

// allowedAlgs are the only algorithms Verify parses: never none, never a
// MAC (an HMAC keyed with a public key is the classic confusion).
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Verify checks raw and returns its claims. Every refusal wraps
// ErrInvalid with the reason.
func (i *Issuer) Verify(ctx context.Context, raw string, want Expect) (*Claims, error) {
	if want.Audience == "" || want.Type == "" {
		return nil, errors.New("token: Verify needs an audience and a type")
	}
	if len(raw) > maxTokenSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxTokenSize)
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: %d signatures", ErrInvalid, len(tok.Headers))
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !sameType(typ, want.Type) {
		return nil, fmt.Errorf("%w: type %q, want %q", ErrInvalid, typ, want.Type)
	}
	key, err := i.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if h.Algorithm != key.alg {
		return nil, fmt.Errorf("%w: algorithm %s, but key %s is %s", ErrInvalid, h.Algorithm, key.id, key.alg)
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(key.priv.Public(), &std, &all); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if std.Expiry == nil || std.IssuedAt == nil {
		return nil, fmt.Errorf("%w: exp and iat are required", ErrInvalid)
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer: i.cfg.Issuer, AnyAudience: jwt.Audience{want.Audience}, Time: i.clock.Now(),
	}, i.cfg.Leeway)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &Claims{
		Subject: std.Subject, Audience: std.Audience, ID: std.ID, KeyID: key.id,
		IssuedAt: std.IssuedAt.Time(), Expiry: std.Expiry.Time(), All: all,
	}, nil
}

// sameType compares typ headers as RFC 9068 §4 says: case-insensitively,
// with or without the "application/" prefix.
func sameType(got, want string) bool {
	got = strings.TrimPrefix(strings.ToLower(got), "application/")
	return got == strings.ToLower(want)
}

// key finds a published key by id. An id it has not seen makes it read
// the ring again (a rotation on another replica), at most once a second.
func (i *Issuer) key(ctx context.Context, kid string) (*signingKey, error) {
	ks, err := i.keys(ctx)
	if err != nil {
		return nil, err
	}
	if k := ks.byID[kid]; k != nil {
		return k, nil
	}
	i.mu.Lock()
	now := i.clock.Now()
	force := now.Sub(i.lastForced) >= time.Second || now.Before(i.lastForced)
	if force {
		i.lastForced = now
	}
	i.mu.Unlock()
	if force {
		if ks, err = i.reload(ctx, ks); err != nil {
			return nil, err
		}
		if k := ks.byID[kid]; k != nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown key id %q", ErrInvalid, kid)
}
