package authtest

import (
	"context"
	"errors"
	"testing"

	"github.com/latch-auth/latch/internal/auth"
	"github.com/latch-auth/latch/internal/kv"
	"github.com/latch-auth/latch/internal/vault"
)

// Secret is the SESSION_SECRET of test engines.
const Secret = "test-secret-test-secret-test-secret!"

// Env is an engine on one store, with a fixed clock and a mailbox.
type Env struct {
	Svc   *auth.Service
	Store kv.Store
	Clock *Clock
	Mail  *Mailbox
}

// NewEnv wires an engine to store; edit may change the configuration.
func NewEnv(t testing.TB, store kv.Store, edit func(*auth.Config)) *Env {
	t.Helper()
	e := &Env{Store: store, Clock: NewClock(Epoch), Mail: &Mailbox{}}
	cfg := Config(t, store, e.Clock)
	if edit != nil {
		edit(&cfg)
	}
	svc, err := auth.NewService(cfg, store, e.Mail)
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	return e
}

// Config is an engine configuration for tests on store.
func Config(t testing.TB, store kv.Store, clock auth.Clock, previousSecrets ...string) auth.Config {
	t.Helper()
	keys, err := auth.NewKeys(Secret, previousSecrets...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(store, clock, Secret, previousSecrets...)
	if err != nil {
		t.Fatal(err)
	}
	return auth.Config{LinkURL: "https://login.example.com/api/auth/passwordless/verify", Keys: keys, Vault: v, Clock: clock}
}

// Web is the caller of Latch's own routes from one network.
func Web(network string) auth.Caller { return auth.Caller{Requester: "net:" + network} }

// MustSend sends a login mail to email as caller and returns the answer
// and the mail.
func (e *Env) MustSend(t testing.TB, email string, caller auth.Caller) (*auth.Sent, *auth.LoginMail) {
	t.Helper()
	sent, err := e.Svc.Send(context.Background(), auth.SendRequest{Email: email, Caller: caller})
	if err != nil {
		t.Fatalf("Send(%q): %v", email, err)
	}
	return sent, e.Mail.Last(t, "")
}

// WantCode fails the test unless err is an *auth.Error with code.
func WantCode(t testing.TB, err error, code auth.Code) *auth.Error {
	t.Helper()
	var e *auth.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error = %v; want code %s", err, code)
	}
	return e
}
