package passkey

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/auth/authtest"
	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/memstore"
	"github.com/latch-auth/latch/internal/redisstore"
	"github.com/latch-auth/latch/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }

// backends are the stores passkeys must work on.
var backends = []struct {
	name string
	open func(t *testing.T) kv.Store
}{
	{"memstore", func(t *testing.T) kv.Store { return memstore.New() }},
	{"boltstore", func(t *testing.T) kv.Store {
		s, err := boltstore.Open(t.TempDir(), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"redisstore", func(t *testing.T) kv.Store {
		b := make([]byte, 6)
		rand.Read(b)
		prefix := "latchtest:" + hex.EncodeToString(b) + ":"
		s, err := redisstore.New(redisstore.Options{URL: redistest.URL(t), KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			if keys, err := s.Client().Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
				s.Client().Del(ctx, keys...)
			}
			s.Close()
		})
		return s
	}},
}

// env is a passkey service on an engine, on one store, at a fixed time.
type env struct {
	svc   *Service
	auth  *authtest.Env
	store kv.Store
	audit *events
}

type events struct {
	kinds  []auth.EventKind
	failed []string // the UserID of each login_failed
}

func (e *events) Audit(_ context.Context, ev auth.Event) {
	e.kinds = append(e.kinds, ev.Kind)
	if ev.Kind == auth.EventLoginFailed {
		e.failed = append(e.failed, ev.UserID)
	}
}

func mustEnv(t *testing.T, store kv.Store) *env {
	t.Helper()
	e := &env{store: store, audit: &events{}}
	// As cmd/latch wires it: deleting a user deletes their passkeys.
	e.auth = authtest.NewEnv(t, store, func(c *auth.Config) { c.OnUserDeleted = append(c.OnUserDeleted, ForgetUser(store, nil)) })
	svc, err := New(Config{RPID: "login.example.com", RPName: "Latch", Origin: "https://login.example.com", Clock: e.auth.Clock, Auditor: e.audit}, store, e.auth.Svc)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// mustUser signs a person in by email and returns the session.
func (e *env) mustUser(t *testing.T, email string) *auth.Session {
	t.Helper()
	u, err := e.auth.Svc.CreateUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	_, sess, err := e.auth.Svc.StartSession(context.Background(), *u)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// mustPasskey keeps a passkey for sess's user as registration would.
func (e *env) mustPasskey(t *testing.T, sess *auth.Session, credID string) *Passkey {
	t.Helper()
	now := e.auth.Clock.Now()
	p := &Passkey{ID: passkeyID([]byte(credID)), UserID: sess.UserID, Name: "Phone", CreatedAt: now,
		Credential: webauthn.Credential{ID: []byte(credID), PublicKey: []byte("key")}}
	if err := e.store.Put(context.Background(), passkeyKey(p.ID), encodePasskey(p), noExpiry, now); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddMember(context.Background(), userSetKey(p.UserID), p.ID, noExpiry, now); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCeremonies: a ceremony is single use (even when its answer is
// wrong), lives CeremonyTTL, belongs to the browser holding its binding,
// to its kind, and (registration) to the person who started it.
func TestCeremonies(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			e := mustEnv(t, be.open(t))
			ada := e.mustUser(t, "ada@example.com")
			bob := e.mustUser(t, "bob@example.com")
			junk := []byte(`{"id":"x","rawId":"eA","type":"public-key","response":{}}`)

			login, err := e.svc.BeginLogin(ctx, "/after")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.FinishLogin(ctx, login.Binding, junk); auth.ErrorCode(err) != auth.CodeInvalidRequest {
				t.Fatalf("a malformed answer: %v, want invalid_request", err)
			}
			if _, err := e.svc.FinishLogin(ctx, login.Binding, junk); auth.ErrorCode(err) != auth.CodeExpired {
				t.Fatalf("the same ceremony again: %v, want expired (single use)", err)
			}

			late, _ := e.svc.BeginLogin(ctx, "")
			e.auth.Clock.Advance(CeremonyTTL)
			if _, err := e.svc.FinishLogin(ctx, late.Binding, junk); auth.ErrorCode(err) != auth.CodeExpired {
				t.Fatalf("after CeremonyTTL: %v, want expired", err)
			}

			other, _ := e.svc.BeginLogin(ctx, "")
			near := other.Binding[:42] + "A"
			if near == other.Binding {
				near = other.Binding[:42] + "B"
			}
			for _, b := range []string{"", "not-a-binding", login.Binding, near} {
				if _, err := e.svc.FinishLogin(ctx, b, junk); auth.ErrorCode(err) != auth.CodeExpired {
					t.Fatalf("binding %q: %v, want expired", b, err)
				}
			}
			if _, err := e.svc.FinishRegistration(ctx, ada, other.Binding, junk, ""); auth.ErrorCode(err) != auth.CodeExpired {
				t.Fatalf("a sign-in's binding used to register: %v, want expired", err)
			}

			reg, err := e.svc.BeginRegistration(ctx, ada)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.FinishRegistration(ctx, bob, reg.Binding, junk, ""); auth.ErrorCode(err) != auth.CodeExpired {
				t.Fatalf("another person finishing Ada's registration: %v, want expired", err)
			}
			if list, _ := e.svc.List(ctx, ada.UserID); len(list) != 0 {
				t.Fatalf("failed ceremonies left %d passkeys", len(list))
			}
		})
	}
}

// TestOptions: registration asks for a discoverable credential with user
// verification preferred and hints at this device without forbidding
// others; sign-in lets the browser offer any passkey of this site.
func TestOptions(t *testing.T) {
	ctx := context.Background()
	e := mustEnv(t, memstore.New())
	ada := e.mustUser(t, "ada@example.com")
	have := e.mustPasskey(t, ada, "cred-1")
	reg, err := e.svc.BeginRegistration(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	o := reg.Options.(*protocol.CredentialCreation).Response
	switch {
	case o.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementRequired:
		t.Errorf("residentKey %q, want required", o.AuthenticatorSelection.ResidentKey)
	case o.AuthenticatorSelection.UserVerification != protocol.VerificationPreferred:
		t.Errorf("userVerification %q, want preferred", o.AuthenticatorSelection.UserVerification)
	case o.AuthenticatorSelection.AuthenticatorAttachment != "":
		t.Errorf("authenticatorAttachment %q: a phone or security key would be refused", o.AuthenticatorSelection.AuthenticatorAttachment)
	case len(o.Hints) != 1 || o.Hints[0] != protocol.PublicKeyCredentialHintClientDevice:
		t.Errorf("hints %v, want client-device (no QR code first for one-device people)", o.Hints)
	case len(o.CredentialExcludeList) != 1 || string(o.CredentialExcludeList[0].CredentialID) != string(have.Credential.ID):
		t.Errorf("excluded %v, want the passkey Ada has", o.CredentialExcludeList)
	case o.RelyingParty.ID != "login.example.com" || string(o.User.ID.(protocol.URLEncodedBase64)) != ada.UserID:
		t.Errorf("rp %q user %v: want the RP ID and the opaque user id", o.RelyingParty.ID, o.User.ID)
	case o.Timeout != int(CeremonyTTL/time.Millisecond):
		t.Errorf("timeout %d ms, want CeremonyTTL", o.Timeout)
	}
	login, err := e.svc.BeginLogin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	a := login.Options.(*protocol.CredentialAssertion).Response
	if len(a.AllowedCredentials) != 0 || a.UserVerification != protocol.VerificationPreferred || a.RelyingPartyID != "login.example.com" {
		t.Errorf("sign-in options %+v: want no allowCredentials, user verification preferred", a)
	}
	if login.Binding == reg.Binding || len(login.Binding) != 43 {
		t.Errorf("bindings %q and %q: want fresh 256-bit secrets", login.Binding, reg.Binding)
	}
}

// TestManagePasskeys: rename and remove only one's own passkeys; a
// removed one is gone from the list and audited; deleting the user
// removes every passkey.
func TestManagePasskeys(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			e := mustEnv(t, be.open(t))
			ada, bob := e.mustUser(t, "ada@example.com"), e.mustUser(t, "bob@example.com")
			p1 := e.mustPasskey(t, ada, "cred-1")
			e.auth.Clock.Advance(time.Second)
			p2 := e.mustPasskey(t, ada, "cred-2")

			if err := e.svc.Rename(ctx, bob.UserID, p1.ID, "Mine now"); auth.ErrorCode(err) != auth.CodeNotFound {
				t.Fatalf("Bob renaming Ada's passkey: %v, want not_found", err)
			}
			if err := e.svc.Remove(ctx, bob, p1.ID); auth.ErrorCode(err) != auth.CodeNotFound {
				t.Fatalf("Bob removing Ada's passkey: %v, want not_found", err)
			}
			if err := e.svc.Rename(ctx, ada.UserID, p1.ID, "  \x00"); auth.ErrorCode(err) != auth.CodeInvalidRequest {
				t.Fatalf("an empty name: %v, want invalid_request", err)
			}
			if err := e.svc.Rename(ctx, ada.UserID, p1.ID, "  Work laptop\n"); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Remove(ctx, ada, p2.ID); err != nil {
				t.Fatal(err)
			}
			list, err := e.svc.List(ctx, ada.UserID)
			if err != nil || len(list) != 1 || list[0].Name != "Work laptop" {
				t.Fatalf("List = %+v, %v; want the renamed one only", list, err)
			}
			if n := len(e.audit.kinds); n != 1 || e.audit.kinds[0] != auth.EventPasskeyRemoved {
				t.Fatalf("audited %v, want one passkey_removed", e.audit.kinds)
			}

			if err := e.auth.Svc.DeleteUser(ctx, ada.UserID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Get(ctx, passkeyKey(p1.ID), e.auth.Clock.Now()); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("the deleted user's passkey is still there: %v", err)
			}
			if list, _ := e.svc.List(ctx, ada.UserID); len(list) != 0 {
				t.Fatalf("a deleted user still lists %d passkeys", len(list))
			}
		})
	}
}

func TestCheckRPID(t *testing.T) {
	cases := []struct {
		rpID, host string
		ok         bool
	}{
		{"login.example.com", "login.example.com", true},
		{"example.com", "login.example.com", true},
		{"Example.COM", "login.example.com", true},
		{"localhost", "localhost", true},
		{"other.example.com", "login.example.com", false},
		{"ample.com", "login.example.com", false},
		{"com", "login.example.com", false},
		{"example.org", "login.example.com", false},
		{"127.0.0.1", "127.0.0.1", false},
		{"localhost", "127.0.0.1", false},
		{"", "login.example.com", false},
	}
	for _, c := range cases {
		if err := CheckRPID(c.rpID, c.host); (err == nil) != c.ok {
			t.Errorf("CheckRPID(%q, %q) = %v, want ok %v", c.rpID, c.host, err, c.ok)
		}
	}
}

// downStore is a store that cannot be reached once down is set.
type downStore struct {
	kv.Store
	down bool
}

func (d *downStore) err() error {
	return kv.Unavailable("test store", errors.New("connection refused"))
}

func (d *downStore) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	if d.down {
		return nil, d.err()
	}
	return d.Store.Get(ctx, key, now)
}

func (d *downStore) Put(ctx context.Context, key string, value []byte, expires, now time.Time) error {
	if d.down {
		return d.err()
	}
	return d.Store.Put(ctx, key, value, expires, now)
}

func (d *downStore) Update(ctx context.Context, key string, now time.Time, fn func([]byte) (kv.Change, error)) error {
	if d.down {
		return d.err()
	}
	return d.Store.Update(ctx, key, now, fn)
}

func (d *downStore) Members(ctx context.Context, key string, now time.Time) ([]string, error) {
	if d.down {
		return nil, d.err()
	}
	return d.Store.Members(ctx, key, now)
}

// TestStoreDown: with the store unreachable every step answers
// unavailable (503), never a refusal that would read as a wrong passkey.
func TestStoreDown(t *testing.T) {
	ctx := context.Background()
	store := &downStore{Store: memstore.New()}
	e := mustEnv(t, store)
	ada := e.mustUser(t, "ada@example.com")
	login, err := e.svc.BeginLogin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	store.down = true
	if _, err := e.svc.BeginLogin(ctx, ""); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("BeginLogin: %v, want unavailable", err)
	}
	if _, err := e.svc.BeginRegistration(ctx, ada); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("BeginRegistration: %v, want unavailable", err)
	}
	if _, err := e.svc.FinishLogin(ctx, login.Binding, []byte(`{}`)); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("FinishLogin: %v, want unavailable", err)
	}
	if _, err := e.svc.List(ctx, ada.UserID); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("List: %v, want unavailable", err)
	}
	if err := e.svc.Remove(ctx, ada, "x"); auth.ErrorCode(err) != auth.CodeUnavailable {
		t.Errorf("Remove: %v, want unavailable", err)
	}
	store.down = false
	if _, err := e.svc.FinishLogin(ctx, login.Binding, []byte(`{}`)); auth.ErrorCode(err) != auth.CodeInvalidRequest {
		t.Errorf("FinishLogin once the store is back: %v, want the ceremony still there (invalid_request for the answer)", err)
	}
}

// TestWholeCeremonies registers a passkey and signs in with it, on every
// backend: the sign-in is the engine's (login_succeeded by passkey, the
// landing target of the ceremony), the sign count must go up, a key that
// never counts (synced passkeys report 0) is fine, a copy whose count went
// back is refused, a passkey answering for another person's handle is
// refused, and a removed passkey is unknown.
func TestWholeCeremonies(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			e := mustEnv(t, be.open(t))
			ada := e.mustUser(t, "ada@example.com")
			const rp, origin = "login.example.com", "https://login.example.com"

			register := func(k *softKey) *Passkey {
				t.Helper()
				reg, err := e.svc.BeginRegistration(ctx, ada)
				if err != nil {
					t.Fatal(err)
				}
				p, err := e.svc.FinishRegistration(ctx, ada, reg.Binding, k.create(reg.Options.(*protocol.CredentialCreation)), "  Phone\t")
				if err != nil {
					t.Fatalf("FinishRegistration: %v", err)
				}
				return p
			}
			signIn := func(k *softKey) (*auth.Login, error) {
				t.Helper()
				st, err := e.svc.BeginLogin(ctx, "/oauth/authorize/resume?request=r1")
				if err != nil {
					t.Fatal(err)
				}
				return e.svc.FinishLogin(ctx, st.Binding, k.get(st.Options.(*protocol.CredentialAssertion)))
			}

			// Made on another site (a phishing page relaying the ceremony),
			// or for another relying party: refused.
			for _, k := range []*softKey{newSoftKey(t, rp, "https://login.example.com.evil.test"), newSoftKey(t, "example.org", origin)} {
				reg, _ := e.svc.BeginRegistration(ctx, ada)
				if _, err := e.svc.FinishRegistration(ctx, ada, reg.Binding, k.create(reg.Options.(*protocol.CredentialCreation)), ""); auth.ErrorCode(err) != auth.CodeInvalidRequest {
					t.Fatalf("a passkey made for %s at %s: %v, want refused", k.rpID, k.origin, err)
				}
			}

			counting := newSoftKey(t, rp, origin)
			counting.count = 1
			p := register(counting)
			if p.Name != "Phone" || p.UserID != ada.UserID || p.Credential.Authenticator.SignCount != 1 {
				t.Fatalf("registered %+v", p)
			}
			login, err := signIn(counting)
			if err != nil {
				t.Fatalf("sign-in: %v", err)
			}
			if login.User.ID != ada.UserID || login.Method != Method || login.RedirectTo != "/oauth/authorize/resume?request=r1" {
				t.Fatalf("login = %+v", login)
			}
			list, _ := e.svc.List(ctx, ada.UserID)
			if len(list) != 1 || list[0].Credential.Authenticator.SignCount != 2 || list[0].LastUsedAt.IsZero() {
				t.Fatalf("after the sign-in: %+v", list[0])
			}

			clone := *counting
			clone.count = 1 // behind the server's 2
			if _, err := signIn(&clone); auth.ErrorCode(err) != auth.CodeUnauthorized {
				t.Fatalf("a clone whose count went back: %v, want unauthorized", err)
			}
			if _, err := signIn(counting); err != nil {
				t.Fatalf("the real one after the clone was refused: %v", err)
			}

			synced := newSoftKey(t, rp, origin) // count stays 0
			register(synced)
			for range 2 {
				if _, err := signIn(synced); err != nil {
					t.Fatalf("a passkey that never counts: %v", err)
				}
			}

			phished := *counting
			phished.origin = "https://login.example.com.evil.test"
			if _, err := signIn(&phished); auth.ErrorCode(err) != auth.CodeUnauthorized {
				t.Fatalf("an answer collected on another site: %v, want unauthorized", err)
			}

			bob := e.mustUser(t, "bob@example.com")
			forged := *counting
			forged.handle = []byte(bob.UserID)
			if _, err := signIn(&forged); auth.ErrorCode(err) != auth.CodeUnauthorized {
				t.Fatalf("Ada's passkey answering as Bob: %v, want unauthorized", err)
			}
			// Refused answers are audited in nobody's name: anyone can name
			// a credential id and a user handle.
			if n := len(e.audit.failed); n < 2 || e.audit.failed[n-1] != "" || e.audit.failed[n-2] != "" {
				t.Fatalf("refused answers audited for users %q, want none named", e.audit.failed)
			}

			if err := e.svc.Remove(ctx, ada, p.ID); err != nil {
				t.Fatal(err)
			}
			_, err = signIn(counting)
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Code != auth.CodeUnauthorized || ae.Details["unknownCredential"] != true {
				t.Fatalf("a removed passkey: %v, want unauthorized with unknownCredential", err)
			}
			added := 0
			for _, k := range e.audit.kinds {
				if k == auth.EventPasskeyAdded {
					added++
				}
			}
			if added != 2 {
				t.Fatalf("audited %d passkey_added, want 2", added)
			}
		})
	}
}
