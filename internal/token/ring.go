package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latch-auth/latch/internal/kv"
)

// The package's one record kind and where it lives in the kv.Store:
//
//	tok:ring   every signing key (next, current, retired)   ringCodec, forever
//
// One record holds the whole ring so that every change to it (the first
// key, a rotation, dropping a retired key) is one kv.Store.Update: two
// replicas that start at once, or rotate at once, end with one ring.
// Private keys are PKCS #8 DER sealed by the vault under "latch signing
// key <kid>", never stored in the clear. The encoding is private and
// versioned; testdata/ring.v1.golden holds the bytes of version 1.
const ringKey = "tok:ring"

// State is where a key is in its life.
type State string

// The states of a signing key.
const (
	// StateNext is published but does not sign yet, so that verifiers
	// that cache the key set know it before the first token it signs.
	StateNext State = "next"
	// StateCurrent signs every new token.
	StateCurrent State = "current"
	// StateRetired signs nothing and stays published until every token
	// it signed has expired.
	StateRetired State = "retired"
)

// entry is one key of the ring as stored.
type entry struct {
	ID        string
	Alg       string
	Created   time.Time
	Activated time.Time // zero while next
	Retired   time.Time // zero until replaced
	Sealed    []byte    // the vault-sealed PKCS #8 private key
}

func (e *entry) state() State {
	switch {
	case !e.Retired.IsZero():
		return StateRetired
	case e.Activated.IsZero():
		return StateNext
	default:
		return StateCurrent
	}
}

// ring is the stored key ring, oldest key first.
type ring struct{ keys []*entry }

func (r *ring) find(s State) *entry {
	for _, e := range r.keys {
		if e.state() == s {
			return e
		}
	}
	return nil
}

const ringV1 = 1

func encodeRing(r *ring) []byte {
	w := kv.NewWriter(ringV1).Int(int64(len(r.keys)))
	for _, e := range r.keys {
		w.String(e.ID).String(e.Alg).Time(e.Created).Time(e.Activated).Time(e.Retired).Blob(e.Sealed)
	}
	return w.Bytes()
}

func decodeRing(rec []byte) (*ring, error) {
	if rec == nil {
		return &ring{}, nil
	}
	r, v := kv.NewReader(rec)
	if v != ringV1 {
		return nil, fmt.Errorf("token: key ring record has encoding version %d, which this release does not know (written by a newer one?): %w", v, kv.ErrCorrupt)
	}
	n := r.Int()
	if n < 0 || n > 64 {
		return nil, fmt.Errorf("token: key ring holds %d keys: %w", n, kv.ErrCorrupt)
	}
	out := &ring{}
	for range n {
		e := &entry{}
		e.ID, e.Alg = r.String(), r.String()
		e.Created, e.Activated, e.Retired = r.Time(), r.Time(), r.Time()
		e.Sealed = r.Blob()
		out.keys = append(out.keys, e)
	}
	if err := r.Err("key ring"); err != nil {
		return nil, err
	}
	return out, nil
}

// plan is the ring's schedule: what maintain does at a given time.
type plan struct {
	rotation time.Duration // a key signs this long
	ahead    time.Duration // the next key is published this long before it signs
	keep     time.Duration // a retired key stays published this long
}

// maintain brings r up to date at now: drops retired keys whose tokens
// have all expired, publishes the next key ahead of its time and promotes
// it when the current key's time is up. fresh is a newly generated key it
// may take; when it needs one and fresh is nil it changes nothing and
// reports needKey. It is pure, so that an Update may run it twice.
func (p plan) maintain(r *ring, now time.Time, fresh *entry) (changed, needKey bool) {
	kept := r.keys[:0:0]
	for _, e := range r.keys {
		if e.state() == StateRetired && !now.Before(e.Retired.Add(p.keep)) {
			changed = true
			continue
		}
		kept = append(kept, e)
	}
	r.keys = kept
	cur, next := r.find(StateCurrent), r.find(StateNext)
	switch {
	case cur == nil && next != nil:
		next.Activated = now
		return true, false
	case cur == nil:
		if fresh == nil {
			return changed, true
		}
		fresh.Activated = now
		r.keys = append(r.keys, fresh)
		return true, false
	case next == nil && !now.Before(cur.Activated.Add(p.rotation-p.ahead)):
		if fresh == nil {
			return changed, true
		}
		r.keys = append(r.keys, fresh)
		return true, false
	case next != nil && !now.Before(cur.Activated.Add(p.rotation)) && !now.Before(next.Created.Add(p.ahead)):
		promote(cur, next, now)
		return true, false
	}
	return changed, false
}

// rotateNow makes a new key current at once: the published next key when
// there is one, else fresh (needKey when fresh is nil).
func rotateNow(r *ring, now time.Time, fresh *entry) (changed, needKey bool) {
	cur, next := r.find(StateCurrent), r.find(StateNext)
	if next == nil {
		if fresh == nil {
			return false, true
		}
		r.keys = append(r.keys, fresh)
		next = fresh
	}
	promote(cur, next, now)
	return true, false
}

func promote(cur, next *entry, now time.Time) {
	if cur != nil {
		cur.Retired = now
	}
	next.Activated = now
}

// Algorithms Latch signs with.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// sealPurpose binds a sealed private key to its key id.
func sealPurpose(kid string) string { return "latch signing key " + kid }

// generate makes a new key of alg, sealed by s.
func generate(alg string, rsaBits int, s Sealer, now time.Time) (*entry, crypto.Signer, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, nil, fmt.Errorf("token: unknown signing algorithm %q (want RS256 or ES256)", alg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("token: generate a %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("token: encode a %s key: %w", alg, err)
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return &entry{ID: kid, Alg: alg, Created: now, Sealed: s.Seal(der, sealPurpose(kid))}, priv, nil
}

// thumbprint is the key id: the RFC 7638 SHA-256 thumbprint of the
// public key, so a key id says which key it is and never repeats.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// open unseals e's private key and checks it is the key its id names;
// current reports whether the current secret sealed it.
func open(e *entry, s Sealer) (priv crypto.Signer, current bool, err error) {
	der, current, err := s.Open(e.Sealed, sealPurpose(e.ID))
	if err != nil {
		return nil, false, fmt.Errorf("token: open signing key %s: %w", e.ID, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, false, fmt.Errorf("token: parse signing key %s: %w", e.ID, err)
	}
	priv, ok := k.(crypto.Signer)
	if !ok {
		return nil, false, fmt.Errorf("token: signing key %s is a %T", e.ID, k)
	}
	if kid, err := thumbprint(priv.Public()); err != nil || kid != e.ID {
		return nil, false, fmt.Errorf("token: signing key %s does not match its id: %w", e.ID, kv.ErrCorrupt)
	}
	return priv, current, nil
}

// reseal seals again, under the current secret, every key that a
// previous secret sealed (after a SESSION_SECRET rotation), so the keys
// still open once SESSION_SECRET_PREVIOUS is dropped.
func reseal(s Sealer) func(r *ring, now time.Time, fresh *entry) (changed, needKey bool) {
	return func(r *ring, _ time.Time, _ *entry) (changed, needKey bool) {
		for _, e := range r.keys {
			der, current, err := s.Open(e.Sealed, sealPurpose(e.ID))
			if err == nil && !current {
				e.Sealed = s.Seal(der, sealPurpose(e.ID))
				changed = true
			}
		}
		return changed, false
	}
}
